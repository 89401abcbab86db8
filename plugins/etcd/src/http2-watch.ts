// TransportBackend.watch over the HTTP/2 client (http2-client.ts), handed
// over as the etcd3 transport's is (watch-delivery.ts): a stream that breaks
// is attached again from the revision after the last one delivered, and
// onResumed says so; a history that was compacted, a refusal, or onEvents
// failing ends the watch through onError.
import type {WatchEvent, WatchHandle, WatchOptions} from '@ec/plugin-api'

import {describeEtcdError, WatchCompactedError} from './errors.js'
import {type EtcdHttp2Client, GrpcStatusError, type GrpcStream} from './http2-client.js'
import {decodeWatchResponse, encodeWatchCreateRequest} from './watch-codec.js'
import {WatchDelivery} from './watch-delivery.js'

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
  let stream: GrpcStream | undefined
  let retry: NodeJS.Timeout | undefined
  const delivery = new WatchDelivery(options, () => {
    stream?.cancel()
    clearTimeout(retry)
  })
  let failures = 0

  /** One stream; resolves when etcd created the watch, rejects when the stream ends or stays silent before that. */
  const attach = () =>
    new Promise<void>((resolve, reject) => {
      let created = false
      const start = delivery.delivered > 0n ? (delivery.delivered + 1n).toString() : undefined
      const fail = (error: Error) => {
        clearTimeout(timer)
        if (!created) return reject(error)
        if (delivery.ended) return
        // Refusals are final; a member or connection that failed is attached to again.
        if (error instanceof GrpcStatusError && error.name !== 'GRPCUnavailableError') delivery.end(describeEtcdError(error, endpoints))
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
              delivery.end(new WatchCompactedError(prefix, why))
              resolve() // the watch was made, and is over: onError has said why
            } else fail(new GrpcStatusError(9, `etcd: ${why.message}`)) // FAILED_PRECONDITION: final
            return
          }

          if (answer.created && !created) {
            created = true
            clearTimeout(timer)
            // Watched from now: what the store held at creation is not repeated on a re-attach.
            if (delivery.delivered === 0n) delivery.delivered = BigInt(answer.revision)
            failures = 0
            resolve()
          }

          delivery.deliver(
            answer.events,
            (event) => event.kv.modRevision,
            (event): WatchEvent =>
              event.type === 'delete'
                ? {type: 'delete', key: target.relative(event.kv.key), modRevision: event.kv.modRevision}
                : {type: 'put', kv: {...event.kv, key: target.relative(event.kv.key)}},
            answer.revision,
          )
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
      if (delivery.ended) return
      attach().then(
        () => delivery.resumed(),
        (error: Error) => {
          if (delivery.ended) return
          if (error instanceof GrpcStatusError && error.name !== 'GRPCUnavailableError') delivery.end(describeEtcdError(error, endpoints))
          else scheduleAttach()
        },
      )
    }, wait)
  }

  const handle: WatchHandle = {
    async close() {
      clearTimeout(retry)
      stream?.cancel()
      await delivery.close()
    },
  }
  return attach().then(
    () => handle,
    (error: Error) => {
      void delivery.close()
      throw describeEtcdError(error, endpoints)
    },
  )
}
