// Says which resource ran out when Placement found no candidate. Pure: it
// works on inventories and usages already read, so it can be tested with
// literal data.
import type {WireInventory} from './wire.js'

export interface HostCapacity {
  name: string
  inventory: Record<string, WireInventory>
  usage: Record<string, number>
}

/** What Placement lets be allocated in all: (total - reserved) * allocation_ratio, rounded down. */
export function capacityOf(inventory: WireInventory): number {
  return Math.floor((inventory.total - (inventory.reserved ?? 0)) * (inventory.allocation_ratio ?? 1))
}

export function freeOf(host: HostCapacity, resourceClass: string): number {
  const inventory = host.inventory[resourceClass]
  return inventory ? Math.max(0, capacityOf(inventory) - (host.usage[resourceClass] ?? 0)) : 0
}

/** Whether one allocation of `amount` is allowed by min_unit, max_unit and step_size. */
export function unitsAllow(inventory: WireInventory, amount: number): boolean {
  const {min_unit: minUnit = 1, max_unit: maxUnit = Number.MAX_SAFE_INTEGER, step_size: stepSize = 1} = inventory
  return amount >= minUnit && amount <= maxUnit && amount % stepSize === 0
}

function fits(host: HostCapacity, resourceClass: string, amount: number): boolean {
  const inventory = host.inventory[resourceClass]
  return inventory !== undefined && unitsAllow(inventory, amount) && freeOf(host, resourceClass) >= amount
}

export function formatResources(resources: Record<string, number>): string {
  return Object.entries(resources)
    .map(([rc, amount]) => `${amount} ${rc}`)
    .join(', ')
}

/**
 * One line naming the first resource class no host can supply, or, when each
 * could be supplied alone, the fact that no single host has them all.
 * Undefined when some host fits after all (capacity was freed meanwhile).
 */
export function explainShortage(resources: Record<string, number>, hosts: HostCapacity[]): string | undefined {
  for (const [rc, amount] of Object.entries(resources)) {
    if (hosts.some((host) => fits(host, rc, amount))) continue

    const offering = hosts.filter((host) => host.inventory[rc] !== undefined)
    if (offering.length === 0) return `no host offers ${rc}; register a host with ${rc} inventory or ask without it`

    const withRoom = offering.filter((host) => freeOf(host, rc) >= amount)
    if (withRoom.length > 0) {
      const largest = Math.max(...withRoom.map((host) => host.inventory[rc].max_unit ?? Number.MAX_SAFE_INTEGER))
      return amount > largest
        ? `no host takes more than ${largest} ${rc} in one allocation (max_unit); ask for less`
        : `no host takes ${amount} ${rc} in one allocation (min_unit/step_size); ask for a different amount`
    }

    const most = offering.reduce((best, host) => (freeOf(host, rc) > freeOf(best, rc) ? host : best))
    return `no host has ${amount} ${rc} free (most free: ${freeOf(most, rc)} on ${most.name}); free capacity or ask for less`
  }

  if (hosts.some((host) => Object.entries(resources).every(([rc, amount]) => fits(host, rc, amount)))) return undefined

  // Each class fits somewhere, but never all on one host: show the host that comes closest.
  const fitting = (host: HostCapacity) => Object.entries(resources).filter(([rc, amount]) => fits(host, rc, amount)).length
  const closest = hosts.reduce((best, host) => (fitting(host) > fitting(best) ? host : best))
  const closestFree = Object.fromEntries(Object.keys(resources).map((rc) => [rc, freeOf(closest, rc)]))
  return `no single host has ${formatResources(resources)} free at once (closest: ${closest.name} with ${formatResources(closestFree)} free); free capacity or ask for less`
}
