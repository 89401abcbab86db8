// Announces the qemu hypervisor to ec. Kept tiny: the implementation loads
// only when a command creates the backend.
import {type BackendDescriptor, defineBackend} from '@ec/plugin-api/hooks'

import {qemuSection} from '../config.js'

export default async function backends(): Promise<BackendDescriptor[]> {
  return [
    defineBackend({
      kind: 'hypervisor',
      name: 'qemu',
      description: 'plain qemu-system-x86_64 processes supervised over QMP (no libvirtd): qcow2 overlay or copy disks, user networking, console logs',
      config: qemuSection,
      async create({section, stateDir, log}) {
        const {QemuHypervisor} = await import('../hypervisor.js')
        return QemuHypervisor.create(section, stateDir, log)
      },
    }),
  ]
}
