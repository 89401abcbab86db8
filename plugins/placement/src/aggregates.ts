// Placement names aggregates by uuid only. ec lets people use names: a name
// stands for a uuid derived from it, the same everywhere, so no table of
// names is kept anywhere; a uuid is taken as it is.
import {PlacementBackendError} from './errors.js'
import {derivedUuid, isUuid} from './names.js'

/** The fixed namespace ec's aggregate names live in. */
const AGGREGATE_NAMESPACE = '6f7c0e52-2b1d-4b8e-9a57-ec0a99e9a7e1'
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/

export function aggregateId(nameOrUuid: string): string {
  if (isUuid(nameOrUuid)) return nameOrUuid.toLowerCase()
  if (!NAME.test(nameOrUuid)) throw new PlacementBackendError('usage', `aggregate "${nameOrUuid}" is neither a uuid nor a name (1-63 letters, digits, ".", "_", "-")`)
  return derivedUuid(AGGREGATE_NAMESPACE, nameOrUuid)
}
