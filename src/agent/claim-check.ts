// Whether a build may start from the claim create recorded in the instance
// (allocationsByProvider), or must first ask the scheduler what the instance
// still holds. No guest starts without its allocation. Every release ec itself
// makes moves the record first (DELETING, ERROR, or gone), which stops a build
// before this point; what is left is a release made outside ec (an operator,
// another tool) between the claim and the build. That needs time to happen: a
// first build accepted within seconds of its claim builds from the claim, and
// one that waited (its agent was down, a backlog, a build resumed after a
// restart) asks the scheduler. Asking costs the scheduler one request per
// build, a third of what a create costs it. After the build, the resync's
// allocation check covers a running guest as it covers any other.

import type {InstanceRecord} from '../instances/model.js'

/**
 * How long after its claim a first build still trusts it. The claim's time is
 * the creator's clock, the acceptance the agent's: a skew between the two
 * machines moves this window by as much, which NTP keeps far below it.
 */
export const FRESH_CLAIM_MS = 5_000

/** The claim per provider of an accepted record when its build may start from it; undefined: ask the scheduler. */
export function freshClaim(record: InstanceRecord): Record<string, Record<string, number>> | undefined {
  const claimed = record.allocationsByProvider
  if (!claimed || Object.keys(claimed).length === 0 || record.buildAttempts !== 1) return undefined
  const waited = Date.parse(record.steps.accepted?.finished ?? '') - Date.parse(record.steps.claim?.finished ?? '')
  // NaN (a time missing) is not within the window either.
  return Math.abs(waited) <= FRESH_CLAIM_MS ? claimed : undefined
}
