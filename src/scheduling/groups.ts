// How an instance's resources are split into Placement request groups:
// VCPU and MEMORY_MB from one NUMA node (or N, isolated, with --numa-nodes N),
// the disk from the host or a shared pool (--disk-from), and the groups
// the caller named itself (--group-resources NAME=RC:N,…).
import {EcError} from '../errors.js'
import type {RequestGroup, ResourceRequest} from '@ec/plugin-api'

/** os-traits' mark of a provider sharing its inventory through aggregates (a shared disk pool). */
export const SHARING_TRAIT = 'MISC_SHARES_VIA_AGGREGATE'
export const DISK_GROUP = '_DISK'
export const MAX_NUMA_NODES = 8

export type DiskFrom = 'shared' | 'local' | 'any'

export interface GroupingInput {
  /** 0: VCPU and memory may come from anywhere in the host's tree; N: from N nodes, one share each. */
  numaNodes?: number
  diskFrom?: DiskFrom
  /** "NAME=RC:N,RC:N" (a named group) or "1=RC:N" (a numbered one). */
  groupResources?: string[]
  groupPolicy?: 'isolate' | 'none'
}

export function numaGroupSuffix(index: number): string {
  return `_NUMA${index}`
}

export function shapeRequest(base: ResourceRequest, input: GroupingInput): ResourceRequest {
  const request: ResourceRequest = {...base, resources: {...base.resources}, groups: [...(base.groups ?? [])]}
  const groups = request.groups!
  for (const spec of input.groupResources ?? []) groups.push(parseGroupResources(spec, groups))

  const numaNodes = input.numaNodes ?? 1
  if (!Number.isInteger(numaNodes) || numaNodes < 0 || numaNodes > MAX_NUMA_NODES) {
    throw new EcError('usage', `--numa-nodes must be a whole number from 0 to ${MAX_NUMA_NODES}, got ${numaNodes}`)
  }

  const grouped = groups.some((g) => g.resources.VCPU !== undefined || g.resources.MEMORY_MB !== undefined)
  const {VCPU: vcpus, MEMORY_MB: memoryMb} = request.resources
  if (numaNodes > 0 && !grouped && vcpus !== undefined && memoryMb !== undefined) {
    if (vcpus < numaNodes || memoryMb < numaNodes) {
      throw new EcError('usage', `--numa-nodes ${numaNodes} needs at least ${numaNodes} vCPUs and ${numaNodes} MiB, one share per node`)
    }

    delete request.resources.VCPU
    delete request.resources.MEMORY_MB
    for (let index = 0; index < numaNodes; index++) {
      groups.push({...emptyGroup(numaGroupSuffix(index)), resources: {VCPU: share(vcpus, numaNodes, index), MEMORY_MB: share(memoryMb, numaNodes, index)}})
    }

    // Nodes of one guest must be different nodes.
    if (numaNodes > 1) request.groupPolicy = input.groupPolicy ?? 'isolate'
  } else if (input.numaNodes !== undefined && input.numaNodes > 1 && grouped) {
    throw new EcError('usage', '--numa-nodes cannot be combined with groups that hold VCPU or MEMORY_MB already; use one or the other')
  }

  const diskFrom = input.diskFrom ?? 'any'
  const disk = request.resources.DISK_GB
  if (diskFrom !== 'any' && disk !== undefined) {
    delete request.resources.DISK_GB
    const group = {...emptyGroup(DISK_GROUP), resources: {DISK_GB: disk}}
    if (diskFrom === 'shared') group.requiredTraits = [SHARING_TRAIT]
    else group.forbiddenTraits = [SHARING_TRAIT]
    groups.push(group)
  }

  if (input.groupPolicy) request.groupPolicy = input.groupPolicy
  // Placement wants a policy with two or more groups; disk and one node can share nothing anyway.
  if (groups.length > 1 && !request.groupPolicy) request.groupPolicy = 'none'
  if (groups.length === 0) delete request.groups
  return request
}

/** Every resource the request takes, over all its groups. */
export function totalResources(request: ResourceRequest): Record<string, number> {
  const total: Record<string, number> = {...request.resources}
  for (const group of request.groups ?? []) {
    for (const [rc, amount] of Object.entries(group.resources)) total[rc] = (total[rc] ?? 0) + amount
  }

  return total
}

function share(amount: number, parts: number, index: number): number {
  return Math.floor(amount / parts) + (index < amount % parts ? 1 : 0)
}

function emptyGroup(suffix: string): RequestGroup {
  return {suffix, resources: {}, requiredTraits: [], forbiddenTraits: [], memberOf: []}
}

function parseGroupResources(spec: string, existing: RequestGroup[]): RequestGroup {
  const match = /^([A-Za-z0-9_-]{1,63})=(.+)$/.exec(spec.trim())
  if (!match) throw new EcError('usage', `--group-resources "${spec}" is not NAME=RC:N[,RC:N] (e.g. NUMA=VCPU:2,MEMORY_MB:1024)`)
  const suffix = /^\d+$/.test(match[1]) ? match[1] : `_${match[1].replace(/^_/, '')}`
  if (existing.some((g) => g.suffix === suffix)) throw new EcError('usage', `--group-resources: group ${match[1]} is given twice`)
  const group = emptyGroup(suffix)
  for (const item of match[2].split(',')) {
    const amount = /^([A-Z][A-Z0-9_]*):(\d+)$/.exec(item.trim())
    if (!amount || Number(amount[2]) < 1) throw new EcError('usage', `--group-resources "${spec}": "${item}" is not RESOURCE_CLASS:AMOUNT above zero`)
    group.resources[amount[1]] = Number(amount[2])
  }

  return group
}
