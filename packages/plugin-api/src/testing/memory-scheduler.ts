// An in-memory SchedulerBackend: hosts with inventories and traits, claims
// that never over-commit (JavaScript runs one claim's check-and-take at a
// time), idempotent releases. For fast unit tests of core flows; it passes
// schedulerContract. Request groups are summed per host (no NUMA children).
import {randomUUID} from 'node:crypto'

import {EcError} from '../errors.js'
import type {
  Claim,
  ClaimOptions,
  HostIdentity,
  HostRegistration,
  HostUsage,
  Inventory,
  ResourceRequest,
  SchedulerBackend,
} from '../scheduler.js'

/** The trait that takes a host out of scheduling (os-traits). */
export const DISABLED_TRAIT = 'COMPUTE_STATUS_DISABLED'

interface Host {
  id: string
  name: string
  inventory: Inventory[]
  traits: Set<string>
}

export class MemoryScheduler implements SchedulerBackend {
  private readonly hosts = new Map<string, Host>()
  /** consumer → host id → resources */
  private readonly claims = new Map<string, {hostId: string; resources: Record<string, number>}>()

  async registerHost(registration: HostRegistration): Promise<HostIdentity> {
    const id = registration.id ?? randomUUID()
    const existing = this.hosts.get(id)
    const previous = new Set(registration.previousTraits ?? [])
    // Traits reported last time and no longer are dropped; anyone else's stay.
    const kept = [...(existing?.traits ?? [])].filter((t) => !previous.has(t))
    const inventory = [...registration.inventory]
    for (const node of registration.numaNodes ?? []) {
      for (const item of node.inventory) {
        const same = inventory.find((i) => i.resourceClass === item.resourceClass)
        if (same) same.total += item.total
        else inventory.push({...item})
      }
    }

    this.hosts.set(id, {id, name: registration.name, inventory, traits: new Set([...kept, ...registration.traits])})
    return {id, name: registration.name}
  }

  async setSchedulable(hostId: string, schedulable: boolean): Promise<void> {
    const host = this.host(hostId)
    if (schedulable) host.traits.delete(DISABLED_TRAIT)
    else host.traits.add(DISABLED_TRAIT)
  }

  async removeHost(hostId: string): Promise<void> {
    if (!this.hosts.has(hostId)) return
    const holders = [...this.claims.entries()].filter(([, c]) => c.hostId === hostId).map(([consumer]) => consumer)
    if (holders.length > 0) {
      throw new EcError('conflict', `host ${hostId} still holds the allocations of ${holders.join(', ')}; delete those instances first`)
    }

    this.hosts.delete(hostId)
  }

  async claim(consumerId: string, request: ResourceRequest, options: ClaimOptions = {}): Promise<Claim> {
    options.signal?.throwIfAborted()
    const wanted = totalResources(request)
    options.onStep?.('candidates', 'listing candidates')
    const candidates = [...this.hosts.values()]
      .filter((host) => this.fits(host, request, wanted, consumerId))
      .sort((a, b) => (options.policy === 'spread' ? -1 : 1) * (this.free(a) - this.free(b)))
      // The caller's filter and preference (a server group) over the policy's order.
      .filter((host) => options.accept?.(host.id) ?? true)
      .sort((a, b) => (options.prefer ? options.prefer(a.id) - options.prefer(b.id) : 0))
    const chosen = candidates[0]
    if (!chosen) throw new EcError('noCapacity', `no host can take ${describeResources(wanted)}; add a host or ask for less`)
    options.onStep?.('claim', `claiming on ${chosen.name}`)
    this.claims.set(consumerId, {hostId: chosen.id, resources: wanted})
    return {consumerId, hostId: chosen.id, hostName: chosen.name, allocations: {...wanted}, byProvider: {[chosen.id]: {...wanted}}}
  }

  async release(consumerId: string): Promise<void> {
    this.claims.delete(consumerId)
  }

  async allocations(consumerId: string): Promise<Record<string, Record<string, number>>> {
    const claim = this.claims.get(consumerId)
    return claim ? {[claim.hostId]: {...claim.resources}} : {}
  }

  async hostAllocations(hostId: string): Promise<Record<string, Record<string, number>>> {
    const held: Record<string, Record<string, number>> = {}
    for (const [consumer, claim] of this.claims) if (claim.hostId === hostId) held[consumer] = {...claim.resources}
    return held
  }

  async listHosts(): Promise<HostUsage[]> {
    return [...this.hosts.values()].map((host) => ({
      id: host.id,
      name: host.name,
      inventory: host.inventory.map((i) => ({...i})),
      usage: this.usage(host.id),
      traits: [...host.traits].sort(),
      schedulable: !host.traits.has(DISABLED_TRAIT),
    }))
  }

  async close(): Promise<void> {}

  private host(hostId: string): Host {
    const host = this.hosts.get(hostId)
    if (!host) throw new EcError('notFound', `host ${hostId} is not registered; start its agent`)
    return host
  }

  private usage(hostId: string, except?: string): Record<string, number> {
    const usage: Record<string, number> = {}
    for (const [consumer, claim] of this.claims) {
      if (claim.hostId !== hostId || consumer === except) continue
      for (const [rc, amount] of Object.entries(claim.resources)) usage[rc] = (usage[rc] ?? 0) + amount
    }

    return usage
  }

  private free(host: Host): number {
    const usage = this.usage(host.id)
    return host.inventory.reduce((sum, i) => sum + capacityOf(i) - (usage[i.resourceClass] ?? 0), 0)
  }

  private fits(host: Host, request: ResourceRequest, wanted: Record<string, number>, consumerId: string): boolean {
    if (host.traits.has(DISABLED_TRAIT)) return false
    const groups = [request, ...(request.groups ?? [])]
    for (const group of groups) {
      if (group.inTree !== undefined && group.inTree !== host.id) return false
      if (!group.requiredTraits.every((t) => host.traits.has(t))) return false
      if (group.forbiddenTraits.some((t) => host.traits.has(t))) return false
    }

    if (!(request.rootRequiredTraits ?? []).every((t) => host.traits.has(t))) return false
    if ((request.rootForbiddenTraits ?? []).some((t) => host.traits.has(t))) return false
    // A consumer's new claim replaces its old one (as in Placement).
    const usage = this.usage(host.id, consumerId)
    return Object.entries(wanted).every(([rc, amount]) => {
      const item = host.inventory.find((i) => i.resourceClass === rc)
      return item !== undefined && (usage[rc] ?? 0) + amount <= capacityOf(item)
    })
  }
}

function capacityOf(item: Inventory): number {
  return Math.floor((item.total - item.reserved) * item.allocationRatio)
}

function totalResources(request: ResourceRequest): Record<string, number> {
  const total: Record<string, number> = {}
  for (const group of [request, ...(request.groups ?? [])]) {
    for (const [rc, amount] of Object.entries(group.resources)) total[rc] = (total[rc] ?? 0) + amount
  }

  return total
}

function describeResources(resources: Record<string, number>): string {
  return Object.entries(resources).map(([rc, n]) => `${rc}:${n}`).join(',')
}
