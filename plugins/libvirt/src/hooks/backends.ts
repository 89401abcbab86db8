// Announces the libvirt hypervisor to ec. Kept tiny: the native binding loads
// only when a command actually creates the backend.
import {type BackendDescriptor, defineBackend} from '@ec/plugin-api'

import {libvirtSection} from '../config.js'

export default async function backends(): Promise<BackendDescriptor[]> {
  return [
    defineBackend({
      kind: 'hypervisor',
      name: 'libvirt',
      description: 'libvirt/QEMU: image cache, qcow2 overlay or copy disks, domains with serial console logs',
      config: libvirtSection,
      async create({section, stateDir, log}) {
        const {LibvirtHypervisor} = await import('../hypervisor.js')
        return LibvirtHypervisor.create(section, stateDir, log)
      },
    }),
  ]
}
