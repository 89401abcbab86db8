// What this host offers Placement: logical cores, memory, and the disk of the
// filesystem that holds instance disks, less what is reserved for the host.
import {mkdir} from 'node:fs/promises'

import si from 'systeminformation'

import type {ComputeConfig} from '../config/defaults.js'
import type {Inventory} from '@ec/plugin-api'

export interface MeasuredCapacity {
  VCPU: number
  MEMORY_MB: number
  DISK_GB: number
}

export async function measureCapacity(disksDir: string): Promise<MeasuredCapacity> {
  await mkdir(disksDir, {recursive: true})
  const [cpu, memory, filesystems] = await Promise.all([si.cpu(), si.mem(), si.fsSize()])
  // The filesystem holding disksDir is the one with the longest mount point that prefixes it.
  const holding = filesystems
    .filter((fs) => disksDir === fs.mount || disksDir.startsWith(fs.mount.endsWith('/') ? fs.mount : fs.mount + '/'))
    .sort((a, b) => b.mount.length - a.mount.length)[0]
  return {
    VCPU: cpu.cores,
    MEMORY_MB: Math.floor(memory.total / 2 ** 20),
    DISK_GB: holding ? Math.floor(holding.size / 2 ** 30) : 0,
  }
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
