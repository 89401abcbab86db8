// Says which resource ran out when Placement found no candidate. Pure: it
// works on inventories and usages already read, so it can be tested with
// literal data.
//
// A host is what it can draw from: its own provider, its NUMA children and
// the shared storage of its aggregates. The unsuffixed group's classes may
// each come from a different one of those; a suffixed group's classes all
// come from one provider (say, one NUMA node).
import type {WireInventory} from './wire.js'

export interface ProviderCapacity {
  name: string
  inventory: Record<string, WireInventory>
  usage: Record<string, number>
}

export interface HostCapacity {
  name: string
  /** The host's own provider, its children and the sharing providers it reaches. */
  providers: ProviderCapacity[]
}

export interface Demand {
  /** The unsuffixed group's resources. */
  resources: Record<string, number>
  /** Suffixed groups: each one's resources from a single provider. */
  groups?: {resources: Record<string, number>}[]
}

/** What Placement lets be allocated in all: (total - reserved) * allocation_ratio, rounded down. */
export function capacityOf(inventory: WireInventory): number {
  return Math.floor((inventory.total - (inventory.reserved ?? 0)) * (inventory.allocation_ratio ?? 1))
}

export function freeOf(provider: ProviderCapacity, resourceClass: string): number {
  const inventory = provider.inventory[resourceClass]
  return inventory ? Math.max(0, capacityOf(inventory) - (provider.usage[resourceClass] ?? 0)) : 0
}

/** Whether one allocation of `amount` is allowed by min_unit, max_unit and step_size. */
export function unitsAllow(inventory: WireInventory, amount: number): boolean {
  const {min_unit: minUnit = 1, max_unit: maxUnit = Number.MAX_SAFE_INTEGER, step_size: stepSize = 1} = inventory
  return amount >= minUnit && amount <= maxUnit && amount % stepSize === 0
}

function fits(provider: ProviderCapacity, resources: Record<string, number>): boolean {
  return Object.entries(resources).every(([rc, amount]) => {
    const inventory = provider.inventory[rc]
    return inventory !== undefined && unitsAllow(inventory, amount) && freeOf(provider, rc) >= amount
  })
}

export function formatResources(resources: Record<string, number>): string {
  return Object.entries(resources)
    .map(([rc, amount]) => `${amount} ${rc}`)
    .join(', ')
}

/** Each unsuffixed class alone, each suffixed group whole: the pieces that must each fit one provider. */
function piecesOf(demand: Demand): Record<string, number>[] {
  return [...Object.entries(demand.resources).map(([rc, amount]) => ({[rc]: amount})), ...(demand.groups ?? []).map((g) => g.resources)]
}

function hostFits(host: HostCapacity, pieces: Record<string, number>[]): boolean {
  return pieces.every((piece) => host.providers.some((provider) => fits(provider, piece)))
}

/**
 * One line naming the first resource class no provider can supply, or the
 * group no single provider can hold, or, when each piece could be supplied
 * alone, the fact that no single host has them all. Undefined when some host
 * fits after all (capacity was freed meanwhile).
 */
export function explainShortage(demand: Demand, hosts: HostCapacity[]): string | undefined {
  const pieces = piecesOf(demand)
  const providers = hosts.flatMap((host) => host.providers)

  for (const piece of pieces) {
    for (const [rc, amount] of Object.entries(piece)) {
      const shortage = explainClass(rc, amount, providers)
      if (shortage) return shortage
    }
  }

  for (const piece of pieces.filter((p) => Object.keys(p).length > 1)) {
    if (providers.some((provider) => fits(provider, piece))) continue
    const closest = closestOf(providers, (provider) => Object.entries(piece).filter(([rc, amount]) => fits(provider, {[rc]: amount})).length)
    return `no single provider (host or NUMA node) has ${formatResources(piece)} free at once (closest: ${closest.name} with ${freeList(piece, [closest])} free); ask for less or split the guest across NUMA nodes`
  }

  if (hosts.some((host) => hostFits(host, pieces))) return undefined

  // Each piece fits somewhere, but never all on one host: show the host that comes closest.
  const closest = closestOf(hosts, (host) => pieces.filter((piece) => hostFits(host, [piece])).length)
  const wanted = Object.fromEntries(pieces.flatMap((piece) => Object.entries(piece)))
  return `no single host has ${formatResources(wanted)} free at once (closest: ${closest.name} with ${freeList(wanted, closest.providers)} free); free capacity or ask for less`
}

/** Why no provider at all can give `amount` of one class, or undefined when one can. */
function explainClass(rc: string, amount: number, providers: ProviderCapacity[]): string | undefined {
  if (providers.some((provider) => fits(provider, {[rc]: amount}))) return undefined

  const offering = providers.filter((provider) => provider.inventory[rc] !== undefined)
  if (offering.length === 0) return `no host offers ${rc}; register a host with ${rc} inventory or ask without it`

  const withRoom = offering.filter((provider) => freeOf(provider, rc) >= amount)
  if (withRoom.length > 0) {
    const largest = Math.max(...withRoom.map((provider) => provider.inventory[rc].max_unit ?? Number.MAX_SAFE_INTEGER))
    return amount > largest
      ? `no host takes more than ${largest} ${rc} in one allocation (max_unit); ask for less`
      : `no host takes ${amount} ${rc} in one allocation (min_unit/step_size); ask for a different amount`
  }

  const most = closestOf(offering, (provider) => freeOf(provider, rc))
  return `no host has ${amount} ${rc} free (most free: ${freeOf(most, rc)} on ${most.name}); free capacity or ask for less`
}

function closestOf<T>(items: T[], score: (item: T) => number): T {
  return items.reduce((best, item) => (score(item) > score(best) ? item : best))
}

/** Per class, the most any one of these providers has free. */
function freeList(resources: Record<string, number>, providers: ProviderCapacity[]): string {
  const free = Object.fromEntries(Object.keys(resources).map((rc) => [rc, Math.max(0, ...providers.map((provider) => freeOf(provider, rc)))]))
  return formatResources(free)
}
