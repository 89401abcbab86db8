// A bounded pool that runs at most one operation per instance at a time, in
// arrival order, and can cancel what is queued or running for an instance: a
// delete that arrives during a build aborts the build and runs right after it.
import pLimit, {type LimitFunction} from 'p-limit'

type Job = (signal: AbortSignal) => Promise<void>

interface Chain {
  tail: Promise<void>
  /** One per job not yet finished, so a preempting job can abort them all. */
  controllers: Set<AbortController>
}

export class WorkQueue {
  private readonly limit: LimitFunction
  private readonly chains = new Map<string, Chain>()
  private accepting = true

  constructor(concurrency: number) {
    this.limit = pLimit(concurrency)
  }

  /**
   * Queue `job` for `key`; with `preempt`, abort what is queued or running for
   * that key first. Resolves when the job has run (never rejects).
   */
  push(key: string, job: Job, options: {preempt?: boolean} = {}): Promise<void> {
    if (!this.accepting) return Promise.resolve()
    const chain = this.chains.get(key) ?? {tail: Promise.resolve(), controllers: new Set<AbortController>()}
    if (options.preempt) for (const c of chain.controllers) c.abort()
    const controller = new AbortController()
    chain.controllers.add(controller)
    const tail = chain.tail
      .then(() => this.limit(() => job(controller.signal)))
      .catch(() => undefined) // jobs report their own failures
      .finally(() => {
        chain.controllers.delete(controller)
        if (chain.tail === tail) this.chains.delete(key)
      })
    chain.tail = tail
    this.chains.set(key, chain)
    return tail
  }

  /** Whether work for `key` is queued or running. */
  has(key: string): boolean {
    return this.chains.has(key)
  }

  /** Instances with work queued or running. */
  get busy(): number {
    return this.chains.size
  }

  /** Stop taking work and wait up to `graceMs` for what is queued; true when all finished. */
  async drain(graceMs: number): Promise<boolean> {
    this.accepting = false
    const all = Promise.all([...this.chains.values()].map((c) => c.tail)).then(() => true)
    const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), graceMs).unref())
    return Promise.race([all, timeout])
  }

  /** Abort everything still queued or running (after the grace period). */
  abortAll(): void {
    for (const chain of this.chains.values()) for (const c of chain.controllers) c.abort()
  }
}
