// Scheduling runs inside the command that asks for an instance, as in
// etcd-compute: claim resources in Placement, then hand the assignment to the
// chosen host through the transport. Failure at any point leaves nothing
// behind: no record, no name, no allocation.
import {randomUUID} from 'node:crypto'
import {hostname} from 'node:os'

import {EcError} from '../errors.js'
import {type Assignment, type InstanceRecord, type InstanceSpec, now, type Step} from '../instances/model.js'
import {InstanceStore, type Versioned} from '../instances/store.js'
import type {PlacementPolicy, SchedulerBackend} from '@ec/plugin-api'
import {waitOutStalls} from '../retry.js'
import {resourceRequestOf} from './request.js'

export interface CreateOptions {
  store: InstanceStore
  scheduler: SchedulerBackend
  policy?: PlacementPolicy
  pendingTimeoutSeconds: number
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
  const written = await store.create(pending)

  let claimed = false
  try {
    options.onStep?.('candidates', 'started')
    let candidates: string | undefined
    const claim = await scheduler.claim(
      id,
      resourceRequestOf(spec),
      {
        policy: options.policy,
        onStep(step, detail) {
          if (step === 'candidates') candidates = detail
          else options.onStep?.('candidates', 'finished', candidates)
          options.onStep?.(step, 'started', detail)
        },
      },
    )
    claimed = true
    options.onStep?.('claim', 'finished', `on ${claim.hostName}`)
    options.onStep?.('notify', 'started', claim.hostName)
    const scheduled = await store.update(
      id,
      (record) => {
        if (record.state !== 'PENDING') return undefined // deleted (DELETING) while we claimed
        record.state = 'SCHEDULED'
        record.host = {id: claim.hostId, name: claim.hostName}
        record.allocations = claim.allocations
        record.scheduling = undefined
        record.steps.candidates = {started: at, finished: now()}
        record.steps.claim = {started: at, finished: now()}
        record.steps.notify = {started: now(), finished: now()}
        record.step = 'notify'
        return record
      },
      (record) => ({ops: [InstanceStore.assignmentOp(record, 'build' satisfies Assignment['op'])]}),
      written,
    )
    if (!scheduled) throw new EcError('conflict', `instance ${pending.name} was deleted while it was being scheduled`)
    options.onStep?.('notify', 'finished', claim.hostName)
    return scheduled
  } catch (error) {
    await undo(pending, store, scheduler, claimed || !certainlyUnclaimed(error))
    throw error
  }
}

const RELEASE_STALL_BUDGET_MS = 30_000

/** No capacity, or a request that never reached the scheduler: nothing to release. */
function certainlyUnclaimed(error: unknown): boolean {
  const {reason, notApplied} = error as {reason?: string; notApplied?: boolean}
  return reason === 'noCapacity' || notApplied === true
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
  const current = await store.get(record.id).catch(() => undefined)
  if (current) await store.remove(current.value).catch(() => undefined)
}
