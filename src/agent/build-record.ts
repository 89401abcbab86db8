// The record of one build, as the agent writes it: changes are applied in
// order, with at most one write in flight; changes made meanwhile go out
// together in the next write. Slow steps are each written as they start;
// steps that take no time collapse into one write. Every write is a
// compare-and-swap from the version this writer last wrote, so a delete that
// lands meanwhile is noticed (the record is no longer BUILDING).
import type {InstanceRecord} from '../instances/model.js'
import type {InstanceStore, Versioned} from '../instances/store.js'

type Change = (record: InstanceRecord) => void

export class BuildRecord {
  private pending: Change[] = []
  private flushing?: Promise<void>
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

  /** Queue a change to a BUILDING record; it is written soon, not now. */
  apply(change: Change): void {
    this.pending.push(change)
    this.flushing ??= this.drain()
  }

  /** Wait until every queued change is written (or found superseded); rethrow a write failure. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing
    if (this.failure) throw this.failure
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
