// Announces the qemu hypervisor to ec. Kept tiny: the implementation loads
// only when a command creates the backend.
import type {BackendDescriptor} from '@ec/plugin-api'

import {qemuSection, type QemuSettings} from '../config.js'

export default async function backends(): Promise<BackendDescriptor[]> {
  return [
    {
      kind: 'hypervisor',
      name: 'qemu',
      description: 'plain qemu-system-x86_64 processes supervised over QMP (no libvirtd): qcow2 overlay or copy disks, user networking, console logs',
      config: qemuSection,
      async create(context) {
        const {QemuHypervisor} = await import('../hypervisor.js')
        return QemuHypervisor.create(context.section as Partial<QemuSettings>, context.stateDir, context.log)
      },
    },
  ]
}
