// Names ec gives meaning to in Placement, and checks of names the caller
// passes in, so that a typo is reported as such instead of a bare 400.
import {createHash} from 'node:crypto'

import {PlacementBackendError} from './errors.js'

/** Every ec host carries it; ec only schedules onto providers that do. */
export const EC_HOST_TRAIT = 'CUSTOM_EC_HOST'
/** The standard (os-traits) trait Nova also uses to take a compute node out of scheduling. */
export const DISABLED_TRAIT = 'COMPUTE_STATUS_DISABLED'
/** Placement 1.38+ wants to know what a consumer is; ec's consumers are instances. */
export const CONSUMER_TYPE = 'INSTANCE'

/** os-traits' mark of a provider that is a NUMA node (as Nova sets it). */
export const NUMA_NODE_TRAIT = 'HW_NUMA_ROOT'

/**
 * Traits a host reports about itself and replaces on every start: CPU
 * features, COMPUTE_* capabilities (but not COMPUTE_STATUS_DISABLED, which
 * says whether it takes work), and ec's CUSTOM_EC_* markers. Operators may
 * not set these by hand; everything else on a provider that the host did not
 * report is someone else's and is kept.
 */
export function isHostReportedTrait(trait: string): boolean {
  if (trait === DISABLED_TRAIT) return false
  return trait.startsWith('HW_CPU_') || trait.startsWith('COMPUTE_') || trait.startsWith('CUSTOM_EC_') || trait === NUMA_NODE_TRAIT
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const NAME = /^[A-Z0-9_]+$/

export function isCustomName(name: string): boolean {
  return name.startsWith('CUSTOM_')
}

/** A name-based (version 5 style) uuid: the same inputs always give the same id, e.g. a host's NUMA node. */
export function derivedUuid(namespace: string, name: string): string {
  const hash = createHash('sha1').update(namespace.toLowerCase()).update('\0').update(name).digest()
  hash[6] = (hash[6] & 0x0f) | 0x50
  hash[8] = (hash[8] & 0x3f) | 0x80
  const hex = hash.subarray(0, 16).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

export function isUuid(value: string): boolean {
  return UUID.test(value)
}

/** Placement keys providers, consumers and aggregates by UUID and rejects anything else. */
export function assertUuid(value: string, what: string): void {
  if (!UUID.test(value)) throw new PlacementBackendError('usage', `${what} "${value}" is not a UUID; Placement only accepts UUIDs here`)
}

/** Resource classes and traits: upper case letters, digits and "_". */
export function assertName(value: string, what: string): void {
  if (!NAME.test(value)) {
    throw new PlacementBackendError('usage', `${what} "${value}" is not valid: use A-Z, 0-9 and "_" (custom ones start with CUSTOM_)`)
  }
}
