// `ec instance delete`: make sure an instance does not exist. Works in every
// state. A live host tears its guest down itself (it is told through the
// assignment); for a dead host the allocations are released and the keys
// removed here, and the host removes the leftover guest when it comes back.
import {setTimeout as sleep} from 'node:timers/promises'

import {EcError} from '../errors.js'
import {type InstanceRecord, now} from '../instances/model.js'
import {InstanceStore} from '../instances/store.js'
import type {SchedulerBackend} from '@ec/plugin-api'

export interface DeleteOptions {
  store: InstanceStore
  scheduler: SchedulerBackend
  /** How long to wait for a live host to finish. */
  timeoutSeconds: number
  /** Return once the host has been told, without waiting for it. */
  noWait?: boolean
  /** Delete only a record this still holds for (read again at the write); otherwise the outcome is 'kept'. */
  onlyIf?(record: InstanceRecord): boolean
}

export type DeleteOutcome = 'absent' | 'deleted' | 'deleted-host-down' | 'requested' | 'kept'

export async function deleteInstance(ref: string, options: DeleteOptions): Promise<DeleteOutcome> {
  const {store} = options
  const found = await store.find(ref)
  if (!found) return 'absent'
  let kept = false
  const marked = await store.update(
    found.value.id,
    (record) => {
      kept = options.onlyIf?.(record) === false
      return kept ? undefined : {...record, state: 'DELETING'}
    },
    (record) => ({ops: record.host ? [InstanceStore.assignmentOp(record, 'delete')] : []}),
    found,
  )
  if (kept) return 'kept'
  if (!marked) return 'absent' // gone between the read and the write
  const record = marked.value
  if (!record.host) {
    // Never reached a host (stale PENDING, or a failed schedule): nothing runs anywhere.
    await forget(record, options)
    return 'deleted'
  }

  if (!(await store.hostAlive(record.host.id))) {
    await forget(record, options)
    return 'deleted-host-down'
  }

  if (options.noWait) return 'requested'
  const deadline = Date.now() + options.timeoutSeconds * 1000
  while (Date.now() < deadline) {
    if (!(await store.get(record.id))) return 'deleted'
    if (!(await store.hostAlive(record.host.id))) {
      await forget(record, options)
      return 'deleted-host-down'
    }

    await sleep(100)
  }

  throw new EcError(
    'unavailable',
    `host ${record.host.name} has not finished deleting ${record.name} within ${options.timeoutSeconds} s; it stays DELETING and the host will finish it (run the delete again to wait)`,
  )
}

/** Release the claim, then drop the record, its name and its assignment. */
async function forget(record: InstanceRecord, options: DeleteOptions): Promise<void> {
  await options.scheduler.release(record.id)
  await options.store.remove(record)
}

export function describeOutcome(outcome: DeleteOutcome, ref: string): string {
  switch (outcome) {
    case 'absent': {
      return `${ref}: not found (nothing to delete)`
    }

    case 'deleted': {
      return `${ref}: deleted`
    }

    case 'deleted-host-down': {
      return `${ref}: deleted; its host is down and will remove the guest when it returns`
    }

    case 'requested': {
      return `${ref}: deletion requested at ${now()}; its host is tearing it down`
    }

    case 'kept': {
      return `${ref}: kept (it changed and no longer needs deleting)`
    }
  }
}
