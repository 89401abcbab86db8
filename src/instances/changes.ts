// Turns the transport's key events under instances/ into the changes a person
// follows: an instance appeared, its state or step moved, it went away. Record
// rewrites that change neither (progress percentages, timestamps) are folded
// away unless the step's percent or message moved.
import type {WatchEvent} from '@ec/plugin-api'
import {keys} from './keys.js'
import type {InstanceRecord, InstanceState, Step} from './model.js'

export type ChangeKind = 'existing' | 'created' | 'changed' | 'deleted'

/** One line of `ec instance watch` (and, as it is, one JSON line of `--json`). */
export interface InstanceChange {
  event: ChangeKind
  /** When the watcher saw it (ISO 8601). */
  at: string
  id: string
  name: string
  state?: InstanceState
  step?: Step
  percent?: number
  message?: string
  host?: string
  address?: string
  error?: string
}

function summarize(event: ChangeKind, record: InstanceRecord, at: string): InstanceChange {
  const step = record.step ? record.steps[record.step] : undefined
  return {
    event,
    at,
    id: record.id,
    name: record.name,
    state: record.state,
    step: record.step,
    percent: step?.finished ? undefined : step?.percent,
    message: step?.finished ? undefined : step?.message,
    host: record.host?.name,
    address: record.address,
    error: record.error?.reason,
  }
}

const FOLLOWED = ['state', 'step', 'percent', 'message', 'host', 'address', 'error'] as const

export class InstanceChanges {
  private readonly last = new Map<string, InstanceChange>()

  constructor(private readonly clock: () => string = () => new Date().toISOString()) {}

  /** What exists when the watch starts. */
  snapshot(records: InstanceRecord[]): InstanceChange[] {
    return records.map((r) => this.remember(summarize('existing', r, this.clock())))
  }

  /** The change one key event makes, if a person would care. */
  apply(event: WatchEvent): InstanceChange | undefined {
    const key = event.type === 'put' ? event.kv.key : event.key
    if (!key.startsWith(keys.instances())) return undefined
    const id = key.slice(keys.instances().length)
    const before = this.last.get(id)
    if (event.type === 'delete') {
      if (!before) return undefined
      this.last.delete(id)
      return {event: 'deleted', at: this.clock(), id, name: before.name}
    }

    const now = summarize(before ? 'changed' : 'created', JSON.parse(event.kv.value) as InstanceRecord, this.clock())
    if (before && FOLLOWED.every((field) => before[field] === now[field])) return undefined
    return this.remember(now)
  }

  private remember(change: InstanceChange): InstanceChange {
    this.last.set(change.id, change)
    return change
  }
}
