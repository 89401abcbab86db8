// What this host offers the scheduler: the capacity its hypervisor measured
// (logical CPUs, memory, the disk of the filesystem that holds guests' disks),
// less what is reserved for the host.
import type {HostCapacity, Inventory} from '@ec/plugin-api'

import type {ComputeConfig} from '../config/defaults.js'

export interface MeasuredCapacity {
  VCPU: number
  MEMORY_MB: number
  DISK_GB: number
}

export function measuredCapacity(capacity: HostCapacity): MeasuredCapacity {
  return {VCPU: capacity.vcpus, MEMORY_MB: capacity.memoryMb, DISK_GB: capacity.diskGb}
}

/** Measured (or configured) totals, with reserved amounts and allocation ratios applied. */
export function inventoryFrom(measured: MeasuredCapacity, compute: ComputeConfig): Inventory[] {
  const totals: Record<string, number> = {...measured, ...compute.inventory}
  return Object.entries(totals)
    .filter(([, total]) => total > 0)
    .map(([resourceClass, total]) => ({
      resourceClass,
      total,
      reserved: Math.min(compute.reserved[resourceClass] ?? 0, total),
      allocationRatio: compute.allocationRatio[resourceClass] ?? 1,
    }))
}
