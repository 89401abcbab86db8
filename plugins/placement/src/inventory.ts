// ec's Inventory (camelCase, one entry per class) against Placement's
// inventories document (snake_case, keyed by class).
import type {Inventory} from '@ec/plugin-api'

import type {WireInventory} from './wire.js'

export function toWireInventories(inventory: Inventory[]): Record<string, WireInventory> {
  const wire: Record<string, WireInventory> = {}
  for (const item of inventory) {
    // Placement rejects a total of 0; having none of a class means not listing it.
    if (item.total <= 0) continue
    wire[item.resourceClass] = {
      total: item.total,
      reserved: item.reserved,
      allocation_ratio: item.allocationRatio,
      ...(item.minUnit === undefined ? {} : {min_unit: item.minUnit}),
      ...(item.maxUnit === undefined ? {} : {max_unit: item.maxUnit}),
      ...(item.stepSize === undefined ? {} : {step_size: item.stepSize}),
    }
  }

  return wire
}

export function fromWireInventories(inventories: Record<string, WireInventory>): Inventory[] {
  return Object.entries(inventories)
    .map(([resourceClass, item]) => ({
      resourceClass,
      total: item.total,
      reserved: item.reserved ?? 0,
      allocationRatio: item.allocation_ratio ?? 1,
      minUnit: item.min_unit,
      maxUnit: item.max_unit,
      stepSize: item.step_size,
    }))
    .sort((a, b) => a.resourceClass.localeCompare(b.resourceClass))
}
