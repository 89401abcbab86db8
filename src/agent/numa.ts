// The host's NUMA topology as the agent reports it: as the hypervisor measured
// it (describeHost), or given in config (compute.numa), and each node's share
// of the inventory.
import {type Inventory, type NumaNodeCapacity, type NumaNodeRegistration, parseCpuList} from '@ec/plugin-api'

import type {ComputeConfig} from '../config/defaults.js'

/** A host NUMA node as the hypervisor measured it, or as config gives it. */
export type NumaNode = NumaNodeCapacity

/** The nodes to report: config's topology, the machine's when "auto" finds more than one, else none (a flat host). */
export async function numaTopology(compute: ComputeConfig, measure: () => Promise<NumaNode[]>): Promise<NumaNode[]> {
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
