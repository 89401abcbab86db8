// Announces the libvirt hypervisor to ec. Kept tiny: the native binding loads
// only when a command actually creates the backend.
import type {BackendDescriptor} from 'ec/plugins'

import {libvirtSection, type LibvirtSection} from '../config.js'

export default async function backends(): Promise<BackendDescriptor[]> {
  return [
    {
      kind: 'hypervisor',
      name: 'libvirt',
      description: 'libvirt/QEMU: image cache, qcow2 overlay or copy disks, domains with serial console logs',
      config: libvirtSection,
      async create(context) {
        const {LibvirtHypervisor} = await import('../hypervisor.js')
        return LibvirtHypervisor.create(context.section as Partial<LibvirtSection>, context.stateDir, context.log)
      },
    },
  ]
}
