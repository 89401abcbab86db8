// TransportBackend.watch over the HTTP/2 client (http2-client.ts), as the
// etcd3 transport keeps it (transport.ts): batches handed over one at a time,
// in order, never repeated; a stream that breaks is attached again from the
// revision after the last one delivered, and onResumed says so; a history that
// was compacted, a refusal, or onEvents failing ends the watch through onError.
import type {WatchEvent, WatchHandle, WatchOptions} from '@ec/plugin-api'

import {describeEtcdError, WatchCompactedError} from './errors.js'
import {type EtcdHttp2Client, GrpcStatusError, type GrpcStream} from './http2-client.js'
import {decodeWatchResponse, encodeWatchCreateRequest, type WatchAnswer} from './watch-codec.js'

/** Waits between attempts to attach again: from the first to the last, then the last. */
const BACKOFF_MS = [100, 250, 500, 1000, 2000]

export interface Http2WatchTarget {
  client: EtcdHttp2Client
  endpoints: string[]
  timeoutMs: number
  /** Full keys: [key, rangeEnd). */
  key: Buffer
  rangeEnd: Buffer
  /** The full key as the transport's callers see it: with its prefix removed. */
  relative(fullKey: string): string
}

/** Resolves once etcd has created the watch (rejects as describeEtcdError says when the first attempt fails). */
export function watchOverHttp2(target: Http2WatchTarget, prefix: string, options: WatchOptions): Promise<WatchHandle> {
  const {client, endpoints} = target
  // Events at or below this revision are dropped: a re-attached stream never repeats.
  let delivered = BigInt(options.afterRevision ?? '0')
  let queue: Promise<void> = Promise.resolve()
  let stream: GrpcStream | undefined
  let retry: NodeJS.Timeout | undefined
  let closed = false
  // After onError the watch is over: nothing more is delivered, onError is not called again.
  let ended = false
  let failures = 0

  const end = (error: Error) => {
    if (ended) return
    ended = true
    stream?.cancel()
    clearTimeout(retry)
    options.onError?.(error)
  }

  const deliver = (answer: WatchAnswer) => {
    const events: WatchEvent[] = []
    for (const event of answer.events) {
      const modRevision = BigInt(event.kv.modRevision)
      if (modRevision <= delivered) continue
      delivered = modRevision
      events.push(
        event.type === 'delete'
          ? {type: 'delete', key: target.relative(event.kv.key), modRevision: event.kv.modRevision}
          : {type: 'put', kv: {...event.kv, key: target.relative(event.kv.key)}},
      )
    }

    if (events.length === 0) return
    queue = queue
      .then(() => (ended || closed ? undefined : options.onEvents(events, answer.revision)))
      .catch((error: unknown) => end(error instanceof Error ? error : new Error(String(error))))
  }

  /** One stream; resolves when etcd created the watch, rejects when the stream ends or stays silent before that. */
  const attach = () =>
    new Promise<void>((resolve, reject) => {
      let created = false
      const start = delivered > 0n ? (delivered + 1n).toString() : undefined
      const fail = (error: Error) => {
        clearTimeout(timer)
        if (!created) return reject(error)
        if (closed || ended) return
        // Refusals are final; a member or connection that failed is attached to again.
        if (error instanceof GrpcStatusError && error.name !== 'GRPCUnavailableError') end(describeEtcdError(error, endpoints))
        else scheduleAttach()
      }

      const own = client.watch(
        encodeWatchCreateRequest(target.key, target.rangeEnd, start),
        (message) => {
          const answer = decodeWatchResponse(message)
          if (answer.canceled) {
            own.cancel()
            const why = new Error(answer.cancelReason || 'etcd cancelled the watch')
            if (answer.compactRevision !== '0' || /compact/i.test(answer.cancelReason)) {
              end(new WatchCompactedError(prefix, why))
              resolve() // the watch was made, and is over: onError has said why
            } else fail(new GrpcStatusError(9, `etcd: ${why.message}`)) // FAILED_PRECONDITION: final
            return
          }

          if (answer.created && !created) {
            created = true
            clearTimeout(timer)
            // Watched from now: what the store held at creation is not repeated on a re-attach.
            if (delivered === 0n) delivered = BigInt(answer.revision)
            failures = 0
            resolve()
          }

          deliver(answer)
        },
        fail,
      )
      stream = own
      // (The stream's callbacks all come later: fail() never sees this before it is set.)
      const timer = setTimeout(() => {
        own.cancel()
        fail(Object.assign(new Error(`deadline exceeded: etcd did not create the watch within ${target.timeoutMs} ms`), {code: 'ETIMEDOUT'}))
      }, target.timeoutMs)
    })

  const scheduleAttach = () => {
    const wait = BACKOFF_MS[Math.min(failures++, BACKOFF_MS.length - 1)]
    retry = setTimeout(() => {
      if (closed || ended) return
      attach().then(
        () => {
          queue = queue.then(() => (ended || closed ? undefined : options.onResumed?.()))
        },
        (error: Error) => {
          if (closed || ended) return
          if (error instanceof GrpcStatusError && error.name !== 'GRPCUnavailableError') end(describeEtcdError(error, endpoints))
          else scheduleAttach()
        },
      )
    }, wait)
  }

  const handle: WatchHandle = {
    async close() {
      closed = true
      clearTimeout(retry)
      stream?.cancel()
      ended = true
      await queue
    },
  }
  return attach().then(
    () => handle,
    (error: Error) => {
      closed = true
      throw describeEtcdError(error, endpoints)
    },
  )
}
