// What a libvirt host can run, as traits the scheduler can filter on: the
// image formats and buses ec's domain XML uses (os-traits COMPUTE_*), the
// disk strategies whose tools are installed, and whether guests get KVM.
import {access, constants} from 'node:fs/promises'
import {delimiter, join} from 'node:path'

import {DISK_STRATEGY_TRAITS, type DiskStrategy, diskStrategyTraits} from '@ec/plugin-api'

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

export const DISK_STRATEGY_TRAIT = DISK_STRATEGY_TRAITS

/** os-traits has no trait for "guests run with hardware acceleration". */
export const KVM_TRAIT = 'CUSTOM_EC_ACCEL_KVM'

/** Disk strategies (overlay and copy need only qemu-img; resize needs libguestfs's virt-resize). */
export async function libvirtDiskStrategies(path = process.env.PATH ?? ''): Promise<DiskStrategy[]> {
  return (await onPath('virt-resize', path)) ? ['overlay', 'copy', 'resize'] : ['overlay', 'copy']
}

/** The traits of a libvirt host besides its CPU's: image types, buses, disk strategies, KVM. */
export function libvirtTraits(domainType: DomainType, strategies: DiskStrategy[]): string[] {
  return [...ALWAYS, ...diskStrategyTraits(strategies), ...(domainType === 'kvm' ? [KVM_TRAIT] : [])].sort()
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
