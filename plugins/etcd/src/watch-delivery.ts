// What both etcd transports (transport.ts, http2-watch.ts) promise a watch's
// consumer (TransportBackend.watch), whichever client brings the events:
// batches handed over one at a time, in order; events at or below the last
// delivered revision dropped, so a stream attached again never repeats one;
// onEvents failing ends the watch: onError once, nothing delivered after.
import type {WatchEvent, WatchOptions} from '@ec/plugin-api'

export class WatchDelivery {
  /** The revision of the last event handed over (at first, the one the watch starts after). */
  delivered: bigint
  /** Ended (onError called) or closed by the consumer: nothing more is handed over. */
  ended = false
  private queue: Promise<void> = Promise.resolve()

  /** `stop`: let go of the stream, when the watch ends for good (not when the consumer closes it). */
  constructor(
    private readonly options: WatchOptions,
    private readonly stop: () => void,
  ) {
    this.delivered = BigInt(options.afterRevision ?? '0')
  }

  /** Hand over the events past the last delivered revision, after the batch before them. */
  deliver<E>(events: Iterable<E>, modRevisionOf: (event: E) => string, toWatchEvent: (event: E) => WatchEvent, revision: string): void {
    if (this.ended) return
    const batch: WatchEvent[] = []
    for (const event of events) {
      const modRevision = BigInt(modRevisionOf(event))
      if (modRevision <= this.delivered) continue
      this.delivered = modRevision
      batch.push(toWatchEvent(event))
    }

    if (batch.length === 0) return
    this.queue = this.queue
      .then(() => (this.ended ? undefined : this.options.onEvents(batch, revision)))
      .catch((error: unknown) => this.end(error instanceof Error ? error : new Error(String(error))))
  }

  /** The stream attached again: onResumed, after the batches before it. */
  resumed(): void {
    this.queue = this.queue.then(() => (this.ended ? undefined : this.options.onResumed?.()))
  }

  /** Over for good: the stream let go, onError once. */
  end(error: Error): void {
    if (this.ended) return
    this.ended = true
    this.stop()
    this.options.onError?.(error)
  }

  /** Closed by the consumer: nothing more, no onError; resolves once the batch in hand is done. */
  async close(): Promise<void> {
    this.ended = true
    await this.queue
  }
}
