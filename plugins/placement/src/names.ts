// Names ec gives meaning to in Placement, and checks of names the caller
// passes in, so that a typo is reported as such instead of a bare 400.
import {PlacementBackendError} from './errors.js'

/** Every ec host carries it; ec only schedules onto providers that do. */
export const EC_HOST_TRAIT = 'CUSTOM_EC_HOST'
/** The standard (os-traits) trait Nova also uses to take a compute node out of scheduling. */
export const DISABLED_TRAIT = 'COMPUTE_STATUS_DISABLED'
/** Placement 1.38+ wants to know what a consumer is; ec's consumers are instances. */
export const CONSUMER_TYPE = 'INSTANCE'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const NAME = /^[A-Z0-9_]+$/

export function isCustomName(name: string): boolean {
  return name.startsWith('CUSTOM_')
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
