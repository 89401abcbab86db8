// What a libvirt host can run, as traits the scheduler can filter on: the
// image formats and buses ec's domain XML uses (os-traits COMPUTE_*), the
// disk strategies whose tools are installed, and whether guests get KVM.
import {access, constants} from 'node:fs/promises'
import {delimiter, join} from 'node:path'

import type {DomainType} from './virt-type.js'

/** Always true of ec's libvirt guests: qcow2/raw images, virtio disks and NICs, virtio-scsi CD-ROMs, BIOS. */
const ALWAYS = [
  'COMPUTE_IMAGE_TYPE_QCOW2',
  'COMPUTE_IMAGE_TYPE_RAW',
  'COMPUTE_NET_VIF_MODEL_VIRTIO',
  'COMPUTE_STORAGE_BUS_VIRTIO',
  'COMPUTE_STORAGE_BUS_SCSI',
  'COMPUTE_FIRMWARE_BIOS',
]

/** Disk strategies (overlay and copy need only qemu-img; resize needs libguestfs). */
export const DISK_STRATEGY_TRAIT = {
  overlay: 'CUSTOM_EC_DISK_OVERLAY',
  copy: 'CUSTOM_EC_DISK_COPY',
  resize: 'CUSTOM_EC_DISK_RESIZE',
} as const

/** os-traits has no trait for "guests run with hardware acceleration". */
export const KVM_TRAIT = 'CUSTOM_EC_ACCEL_KVM'

export async function libvirtCapabilities(domainType: DomainType, path = process.env.PATH ?? ''): Promise<string[]> {
  const traits = [...ALWAYS, DISK_STRATEGY_TRAIT.overlay, DISK_STRATEGY_TRAIT.copy]
  if (await onPath('virt-resize', path)) traits.push(DISK_STRATEGY_TRAIT.resize)
  if (domainType === 'kvm') traits.push(KVM_TRAIT)
  return traits.sort()
}

async function onPath(command: string, path: string): Promise<boolean> {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    try {
      await access(join(dir, command), constants.X_OK)
      return true
    } catch {
      // next directory
    }
  }

  return false
}
