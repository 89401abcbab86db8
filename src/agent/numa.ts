// The host's NUMA topology as the agent reports it: measured from sysfs, or
// given in config (compute.numa), and each node's share of the inventory.
import {readdir, readFile} from 'node:fs/promises'
import {join} from 'node:path'

import type {ComputeConfig} from '../config/defaults.js'
import {EcError} from '../errors.js'
import type {Inventory, NumaNodeRegistration} from '@ec/plugin-api'

export interface NumaNode {
  node: number
  cpus: number[]
  memoryMb: number
}

/** "0-3,8,10-11" → [0,1,2,3,8,10,11] (Linux's cpulist format, also used in config). */
export function parseCpuList(list: string): number[] {
  const cpus: number[] = []
  for (const part of list.trim().split(',').filter(Boolean)) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim())
    if (!match) throw new EcError('config', `"${list}" is not a CPU list like 0-3,8`)
    const [from, to] = [Number(match[1]), Number(match[2] ?? match[1])]
    for (let cpu = from; cpu <= to; cpu++) cpus.push(cpu)
  }

  return cpus
}

/** The machine's nodes from /sys/devices/system/node (empty where there is no such directory). */
export async function measureNumaNodes(sysNodeDir = '/sys/devices/system/node'): Promise<NumaNode[]> {
  let entries: string[]
  try {
    entries = (await readdir(sysNodeDir)).filter((name) => /^node\d+$/.test(name))
  } catch {
    return []
  }

  const nodes = await Promise.all(
    entries.map(async (entry) => {
      const dir = join(sysNodeDir, entry)
      const [cpulist, meminfo] = await Promise.all([readFile(join(dir, 'cpulist'), 'utf8'), readFile(join(dir, 'meminfo'), 'utf8')])
      const kb = Number(/MemTotal:\s+(\d+)\s+kB/.exec(meminfo)?.[1] ?? 0)
      return {node: Number(entry.slice(4)), cpus: parseCpuList(cpulist), memoryMb: Math.floor(kb / 1024)}
    }),
  )
  return nodes.sort((a, b) => a.node - b.node)
}

/** The nodes to report: config's topology, the machine's when "auto" finds more than one, else none (a flat host). */
export async function numaTopology(compute: ComputeConfig, measure = measureNumaNodes): Promise<NumaNode[]> {
  const {numa} = compute
  if (numa === 'off') return []
  if (numa === 'auto') {
    const measured = await measure()
    return measured.length > 1 ? measured : []
  }

  return numa.nodes.map((node, index) => ({node: index, cpus: parseCpuList(node.cpus), memoryMb: node.memoryMb}))
}

/** Each node's VCPU and MEMORY_MB, with ratios and the host's reserve (split evenly) applied. */
export function numaInventories(nodes: NumaNode[], compute: ComputeConfig): NumaNodeRegistration[] {
  const share = (rc: string) => Math.ceil((compute.reserved[rc] ?? 0) / nodes.length)
  return nodes.map(({node, cpus, memoryMb}) => ({
    node,
    inventory: (
      [
        ['VCPU', cpus.length],
        ['MEMORY_MB', memoryMb],
      ] as const
    )
      .filter(([, total]) => total > 0)
      .map(([resourceClass, total]): Inventory => ({
        resourceClass,
        total,
        reserved: Math.min(share(resourceClass), total),
        allocationRatio: compute.allocationRatio[resourceClass] ?? 1,
      })),
  }))
}

/** Resource classes that live on NUMA nodes rather than on the host's own provider. */
export const PER_NODE_CLASSES = new Set(['VCPU', 'MEMORY_MB'])
