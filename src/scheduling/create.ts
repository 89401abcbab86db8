// Scheduling runs inside the command that asks for an instance, as in
// etcd-compute: claim resources in Placement, then hand the assignment to the
// chosen host through the transport. Failure at any point leaves nothing
// behind: no record, no name, no allocation.
import {randomUUID} from 'node:crypto'
import {hostname} from 'node:os'

import {EcError} from '../errors.js'
import {type GroupPlacement, GroupRefused} from '../groups/store.js'
import {type Assignment, type InstanceRecord, type InstanceSpec, now, type Step} from '../instances/model.js'
import {InstanceStore, type Versioned} from '../instances/store.js'
import type {PlacementPolicy, SchedulerBackend} from '@ec/plugin-api'
import {isUnavailable, waitOutStalls} from '../retry.js'
import {resourceRequestOf} from './request.js'

export interface CreateOptions {
  store: InstanceStore
  scheduler: SchedulerBackend
  policy?: PlacementPolicy
  pendingTimeoutSeconds: number
  /** The server group it joins (spec.group): its hard policy is kept by the SCHEDULED write's compare-and-swap. */
  group?: GroupPlacement
  /** Progress of the steps this side owns (candidates, claim, notify). */
  onStep?(step: Step, status: 'started' | 'finished', detail?: string): void
}

export async function createInstance(
  name: string | undefined,
  spec: InstanceSpec,
  options: CreateOptions,
): Promise<Versioned<InstanceRecord>> {
  const {store, scheduler} = options
  const id = randomUUID()
  const at = now()
  const pending: InstanceRecord = {
    id,
    name: name ?? `inst-${id.slice(0, 8)}`,
    state: 'PENDING',
    spec,
    steps: {},
    buildAttempts: 0,
    scheduling: {
      by: `${hostname()}:${process.pid}`,
      deadline: new Date(Date.now() + options.pendingTimeoutSeconds * 1000).toISOString(),
    },
    createdAt: at,
    updatedAt: at,
  }
  const written = await store.create(pending).catch(async (error: unknown) => {
    // etcd stopped answering with the write on its way: it may have landed. A
    // failed create leaves no record, so take it back once etcd answers again
    // (a write that certainly never left, as to an etcd that refuses, needs nothing).
    if (isUnavailable(error) && (error as {notApplied?: boolean}).notApplied !== true) await takeBack(pending, store)
    throw error
  })

  let claimed = false
  /** Release this round's claim before the next round (a Placement that restarts is waited for). */
  const giveBack = async () => {
    await waitOutStalls(() => scheduler.release(id), {budgetMs: RELEASE_STALL_BUDGET_MS})
    claimed = false
  }

  const {group} = options
  // Hosts claimed on whose agent turned out not to run (no liveness key):
  // Placement cannot know, so each is released and left out of the next round.
  // When no host with room has its agent up, one that is down is taken after
  // all: the assignment waits in etcd, and the agent builds it when it returns
  // (a restart, an upgrade), as it would have before this check.
  const down = new Set<string>()
  let anyHost = false
  try {
    // A claim whose host the group no longer admits (another member took its
    // place first) is released and scheduling starts over from the group as it is then.
    for (let round = 1; ; round++) {
      options.onStep?.('candidates', 'started')
      const constraints = await group?.constraints(resourceRequestOf(spec))
      const groupAccept = constraints?.accept
      const accept = down.size === 0 || anyHost ? groupAccept : (hostId: string) => !down.has(hostId) && (groupAccept?.(hostId) ?? true)
      let candidates: string | undefined
      const claim = await scheduler
        .claim(id, constraints?.request ?? resourceRequestOf(spec), {
          policy: options.policy,
          accept,
          prefer: constraints?.prefer,
          onStep(step, detail) {
            if (step === 'candidates') candidates = detail
            else options.onStep?.('candidates', 'finished', candidates)
            options.onStep?.(step, 'started', detail)
          },
        })
        .catch((error: unknown) => {
          if (down.size > 0 && !anyHost && (error as {reason?: string}).reason === 'noCapacity') return undefined
          throw group ? group.explain(error) : error
        })
      if (!claim) {
        anyHost = true
        continue
      }

      claimed = true
      if (accept && !accept(claim.hostId)) {
        // A backend that ignores the filter would claim a refused host round after round.
        throw new EcError('failure', `the scheduler backend claimed on ${claim.hostName}, which ${down.has(claim.hostId) ? 'is down' : `group ${JSON.stringify(spec.group)} excludes`}: it does not honour ClaimOptions.accept`)
      }

      const agentDown = !(await store.hostAlive(claim.hostId))
      if (agentDown && !anyHost) {
        await giveBack()
        down.add(claim.hostId)
        continue
      }

      options.onStep?.('claim', 'finished', agentDown ? `on ${claim.hostName} (its agent is down: the build starts when it returns)` : `on ${claim.hostName}`)
      options.onStep?.('notify', 'started', claim.hostName)
      let scheduled: Versioned<InstanceRecord> | undefined
      try {
        scheduled = await store.update(
          id,
          (record) => {
            if (record.state !== 'PENDING') return undefined // deleted (DELETING) while we claimed
            record.state = 'SCHEDULED'
            record.host = {id: claim.hostId, name: claim.hostName}
            record.allocations = claim.allocations
            record.allocationsByProvider = claim.byProvider
            record.scheduling = undefined
            record.steps.candidates = {started: at, finished: now()}
            record.steps.claim = {started: at, finished: now()}
            record.steps.notify = {started: now(), finished: now()}
            record.step = 'notify'
            return record
          },
          async (record) => {
            const assignment = InstanceStore.assignmentOp(record, 'build' satisfies Assignment['op'])
            if (!group) return {ops: [assignment]}
            const join = await group.join(record)
            return {guards: join.guards, ops: [assignment, ...(join.ops ?? [])]}
          },
          written,
        )
      } catch (error) {
        if (!(error instanceof GroupRefused) || round >= MAX_GROUP_ROUNDS) throw error
        await giveBack()
        continue
      }

      if (!scheduled) throw new EcError('conflict', `instance ${pending.name} was deleted while it was being scheduled`)
      options.onStep?.('notify', 'finished', claim.hostName)
      return scheduled
    }
  } catch (error) {
    await undo(pending, store, scheduler, claimed || !certainlyUnclaimed(error))
    throw error
  }
}

const RELEASE_STALL_BUDGET_MS = 30_000
/** Each refusal means another member took a place first; hosts fill up, so this bounds a pathological race only. */
const MAX_GROUP_ROUNDS = 100

/** No capacity, or a request that never reached the scheduler: nothing to release. */
function certainlyUnclaimed(error: unknown): boolean {
  const {reason, notApplied} = error as {reason?: string; notApplied?: boolean}
  return reason === 'noCapacity' || notApplied === true
}

/** Remove the PENDING record (and its name) if its write landed after all; within the stall budget, else it is left to go stale. */
async function takeBack(record: InstanceRecord, store: InstanceStore): Promise<void> {
  await waitOutStalls(() => removeOwnRecord(record.id, store), {budgetMs: RELEASE_STALL_BUDGET_MS}).catch(() => undefined)
}

/** Remove the record under this attempt's id, if there is one: the id is its own, so such a record is the one it wrote. */
async function removeOwnRecord(id: string, store: InstanceStore): Promise<void> {
  const current = await store.get(id)
  if (current) await store.remove(current.value)
}

/**
 * Remove what this attempt wrote. A claim that failed for a reason other than
 * capacity may still have landed (a timeout after Placement wrote it), so the
 * consumer's allocations are released then too; if that fails the record is
 * kept as ERROR, so that `ec instance delete` can finish the job later.
 */
async function undo(record: InstanceRecord, store: InstanceStore, scheduler: SchedulerBackend, release: boolean): Promise<void> {
  try {
    // A Placement that restarts is waited for: the claim must go before the record does.
    if (release) await waitOutStalls(() => scheduler.release(record.id), {budgetMs: RELEASE_STALL_BUDGET_MS})
  } catch (error) {
    await store
      .update(record.id, (r) => ({
        ...r,
        state: 'ERROR',
        scheduling: undefined,
        error: {reason: `scheduling failed and its claim could not be released: ${(error as Error).message}`, at: now()},
      }))
      .catch(() => undefined)
    return
  }

  // If etcd is gone too, the record stays PENDING until its deadline and is then shown as stale.
  await removeOwnRecord(record.id, store).catch(() => undefined)
}
