// An in-memory TransportBackend with etcd's semantics (one revision per
// commit, CAS on mod revisions, watches that replay history after a revision,
// leases), for fast unit tests of core flows. It passes transportContract.
import {EcError} from '../errors.js'
import type {KeyValue, Lease, TransportBackend, TxnGuard, TxnOp, TxnResult, WatchEvent, WatchHandle, WatchOptions} from '../transport.js'

interface Stored {
  value: string
  modRevision: bigint
  createRevision: bigint
  lease?: string
}

interface Watcher {
  prefix: string
  options: WatchOptions
  queue: Promise<void>
  ended: boolean
}

interface HeldLease {
  lost: () => void
  keys: Set<string>
}

export class MemoryTransport implements TransportBackend {
  private readonly data = new Map<string, Stored>()
  private readonly history: Array<{revision: bigint; event: WatchEvent}> = []
  private readonly watchers = new Set<Watcher>()
  private readonly leases = new Map<string, HeldLease>()
  private revision = 1n
  private nextLease = 1
  private closed = false

  async get(key: string): Promise<KeyValue | undefined> {
    this.assertOpen()
    const stored = this.data.get(key)
    return stored && toKeyValue(key, stored)
  }

  async list(prefix: string): Promise<{items: KeyValue[]; revision: string}> {
    this.assertOpen()
    const items = [...this.data.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, stored]) => toKeyValue(key, stored))
    return {items, revision: this.revision.toString()}
  }

  async commit(guards: TxnGuard[], ops: TxnOp[]): Promise<TxnResult> {
    this.assertOpen()
    for (const guard of guards) {
      const current = this.data.get(guard.key)
      const holds = guard.modRevision === null ? current === undefined : current?.modRevision.toString() === guard.modRevision
      if (!holds) return {ok: false}
    }

    for (const op of ops) {
      if (op.op === 'put' && op.lease !== undefined && !this.leases.has(op.lease)) {
        throw new EcError('notFound', `lease ${op.lease} does not exist (revoked or lost); grant a new one`)
      }
    }

    if (ops.length > 0) this.apply(ops)
    return {ok: true, revision: this.revision.toString()}
  }

  async watch(prefix: string, options: WatchOptions): Promise<WatchHandle> {
    this.assertOpen()
    const watcher: Watcher = {prefix, options, queue: Promise.resolve(), ended: false}
    if (options.afterRevision !== undefined) {
      const after = BigInt(options.afterRevision)
      const missed = this.history.filter((h) => h.revision > after && keyOf(h.event).startsWith(prefix))
      if (missed.length > 0) this.deliver(watcher, missed.map((h) => h.event), missed.at(-1)!.revision)
    }

    this.watchers.add(watcher)
    return {
      close: async () => {
        this.watchers.delete(watcher)
        watcher.ended = true
        await watcher.queue
      },
    }
  }

  async grantLease(_ttlSeconds: number): Promise<Lease> {
    this.assertOpen()
    const id = String(this.nextLease++)
    let lost!: () => void
    const lostPromise = new Promise<void>((resolve) => (lost = resolve))
    this.leases.set(id, {lost, keys: new Set()})
    return {id, lost: lostPromise, revoke: async () => this.endLease(id, false)}
  }

  /** For tests: the lease expires as if its holder had stopped refreshing it (its keys go, `lost` resolves). */
  expireLease(id: string): void {
    this.endLease(id, true)
  }

  async close(): Promise<void> {
    this.closed = true
    await Promise.all([...this.watchers].map(async (w) => {
      w.ended = true
      await w.queue
    }))
    this.watchers.clear()
  }

  private endLease(id: string, lost: boolean): void {
    const lease = this.leases.get(id)
    if (!lease) return
    this.leases.delete(id)
    const owned = [...lease.keys].filter((key) => this.data.get(key)?.lease === id)
    if (owned.length > 0) this.apply(owned.map((key) => ({op: 'delete', key})))
    if (lost) lease.lost()
  }

  private apply(ops: TxnOp[]): void {
    this.revision++
    const events: WatchEvent[] = []
    for (const op of ops) {
      const revision = this.revision
      if (op.op === 'delete') {
        if (!this.data.delete(op.key)) continue
        events.push({type: 'delete', key: op.key, modRevision: revision.toString()})
      } else {
        const previous = this.data.get(op.key)
        const stored: Stored = {value: op.value, modRevision: revision, createRevision: previous?.createRevision ?? revision}
        if (op.lease !== undefined) {
          stored.lease = op.lease
          this.leases.get(op.lease)!.keys.add(op.key)
        }

        this.data.set(op.key, stored)
        events.push({type: 'put', kv: toKeyValue(op.key, stored)})
      }
    }

    for (const event of events) this.history.push({revision: this.revision, event})
    for (const watcher of this.watchers) {
      const mine = events.filter((e) => keyOf(e).startsWith(watcher.prefix))
      if (mine.length > 0) this.deliver(watcher, mine, this.revision)
    }
  }

  /** One batch at a time, in order; a handler that throws ends the watch through onError. */
  private deliver(watcher: Watcher, events: WatchEvent[], revision: bigint): void {
    watcher.queue = watcher.queue.then(async () => {
      if (watcher.ended) return
      try {
        await watcher.options.onEvents(events, revision.toString())
      } catch (error) {
        watcher.ended = true
        this.watchers.delete(watcher)
        watcher.options.onError?.(error instanceof Error ? error : new Error(String(error)))
      }
    })
  }

  private assertOpen(): void {
    if (this.closed) throw new EcError('failure', 'the memory transport is closed')
  }
}

function keyOf(event: WatchEvent): string {
  return event.type === 'put' ? event.kv.key : event.key
}

function toKeyValue(key: string, stored: Stored): KeyValue {
  return {key, value: stored.value, modRevision: stored.modRevision.toString(), createRevision: stored.createRevision.toString()}
}
