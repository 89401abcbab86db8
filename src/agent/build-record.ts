// The record of one build, as the agent writes it: changes are applied in
// order, with at most one write in flight; changes made meanwhile go out
// together in the next write. A change waits COALESCE_MS for others before it
// is written, so a slow step shows up as it starts (a fraction of a second
// late) while quick ones collapse into one write: a build whose steps all take
// less is written once more after its accept, when it is ACTIVE. Every write
// is a compare-and-swap from the version this writer last wrote, so a delete
// that lands meanwhile is noticed (the record is no longer BUILDING).
import type {InstanceRecord} from '../instances/model.js'
import type {InstanceStore, Versioned} from '../instances/store.js'

type Change = (record: InstanceRecord) => void

/** How long a change waits for others (each write is an etcd revision, sent to every watcher of the record). */
export const COALESCE_MS = 100

export class BuildRecord {
  private pending: Change[] = []
  private flushing?: Promise<void>
  private waiting?: NodeJS.Timeout
  private failure?: Error
  /** True once the record stopped being BUILDING (deleted, or deleting). */
  superseded = false

  constructor(
    private readonly store: InstanceStore,
    private latest: Versioned<InstanceRecord>,
  ) {}

  get value(): InstanceRecord {
    return this.latest.value
  }

  /** Queue a change to a BUILDING record; it is written within COALESCE_MS (or after the write in flight), not now. */
  apply(change: Change): void {
    this.pending.push(change)
    if (!this.flushing) this.waiting ??= setTimeout(() => this.writeNow(), COALESCE_MS)
  }

  /** Write every queued change now and wait until it is written (or found superseded); rethrow a write failure. */
  async flush(): Promise<void> {
    this.writeNow()
    while (this.flushing) await this.flushing
    if (this.failure) throw this.failure
  }

  private writeNow(): void {
    clearTimeout(this.waiting)
    this.waiting = undefined
    if (this.pending.length > 0) this.flushing ??= this.drain()
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0 && !this.superseded) {
        const batch = this.pending.splice(0)
        const written = await this.store.update(
          this.latest.value.id,
          (record) => {
            if (record.state !== 'BUILDING') return undefined
            for (const change of batch) change(record)
            return record
          },
          undefined,
          this.latest,
        )
        if (written) this.latest = written
        else this.superseded = true
      }
    } catch (error) {
      this.failure = error as Error
    } finally {
      this.flushing = undefined
    }
  }
}
