// etcd's gRPC API over node:http2, for short-lived commands (cli-transport.ts):
// KV.Range and KV.Txn as unary calls and Watch as a stream, their messages
// coded by range-codec.ts, txn-codec.ts and watch-codec.ts. Loading the gRPC
// client (etcd3, grpc-js, protobufjs) costs a command like `ec instance list`
// or `create` several times what its calls take; node:http2 is already in
// Node. (etcd's JSON gateway would need no codec, but etcd spends longer
// writing the JSON than reading the keys, and every value comes
// base64-encoded.)
//
// The same checks as the etcd3 path: the CA verifies etcd's certificate (by
// the bundle's server name when it has one), the client certificate is
// presented, and reads are linearizable (etcd's default). Across several
// members: the one that answered last is asked first; a member that refuses
// the connection, does not finish its handshake within its share of the
// deadline, or answers "unavailable" (no leader) hands over to the next. A
// refused certificate or a bad request is final: another member would say the
// same. A transaction goes to the next member only when it certainly never
// left (no connection was made): one that was sent may have been applied, and
// is never replayed (TransportBackend.commit).
//
// A member on this machine that `ec up` started is also reached through its
// unix socket when the local admin's bundle names it (TlsMaterial.localSockets):
// no TLS, whose start-up (OpenSSL's first context, the handshake) costs a
// short-lived command more than its calls. A socket that fails before etcd
// answers (gone, stale, not permitted) is left for TLS to the same member.
import {type ClientHttp2Session, type ClientHttp2Stream, connect, constants, type IncomingHttpHeaders} from 'node:http2'
import {connect as connectSocket} from 'node:net'

import type {TlsMaterial} from '@ec/plugin-api'

import {decodeRangeResponse, encodeRangeRequest, type RangeAnswer} from './range-codec.js'
import {decodeTxnResponse, encodeTxnRequest, type TxnCompare, type TxnRequestOp} from './txn-codec.js'

/** An error etcd answered with: a gRPC status. */
export class GrpcStatusError extends Error {
  constructor(
    readonly grpcCode: number,
    message: string,
  ) {
    super(message)
    // Named as etcd3 names its errors, so describeEtcdError reads both alike.
    this.name = grpcCode === GRPC_UNAVAILABLE ? 'GRPCUnavailableError' : grpcCode === GRPC_DEADLINE ? 'GRPCDeadlineExceededError' : 'GRPCError'
  }
}

const GRPC_OK = 0
const GRPC_DEADLINE = 4
const GRPC_UNAVAILABLE = 14
/** Connection-level failures after which another member may answer. */
const MEMBER_DOWN = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EADDRNOTAVAIL', 'ERR_HTTP2_GOAWAY_SESSION', 'ERR_HTTP2_STREAM_CANCEL'])

/** A failure before the connection to a member was made: the call never left. */
export class NotSentError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message)
    this.name = 'NotSentError'
  }
}

/** An open Watch stream: its messages go to `onMessage`, its end (not asked for by cancel) to `onEnd`. */
export interface GrpcStream {
  cancel(): void
}

export class EtcdHttp2Client {
  private preferred = 0
  /** One HTTP/2 connection per member, kept for the next call. */
  private readonly sessions = new Map<string, ClientHttp2Session>()
  /** Sessions whose server has sent its HTTP/2 settings. */
  private readonly spoken = new WeakSet<ClientHttp2Session>()
  /** Members whose local socket failed: TLS from then on. */
  private readonly socketFailed = new Set<string>()

  constructor(
    private readonly endpoints: string[],
    private readonly tls: TlsMaterial | undefined,
    private readonly timeoutMs: number,
  ) {}

  /** Keys in [key, rangeEnd); just `key` without rangeEnd. */
  async range(key: Buffer, rangeEnd?: Buffer): Promise<RangeAnswer> {
    return decodeRangeResponse(await this.call('/etcdserverpb.KV/Range', frameOf(encodeRangeRequest(key, rangeEnd)), true))
  }

  /** The ops if every compare holds, atomically; sent at most once (see NotSentError). */
  async txn(compares: TxnCompare[], ops: TxnRequestOp[]): Promise<{succeeded: boolean; revision: string}> {
    return decodeTxnResponse(await this.call('/etcdserverpb.KV/Txn', frameOf(encodeTxnRequest(compares, ops)), false))
  }

  /**
   * Open Watch's stream on the member asked first and send `message` (one
   * WatchRequest); each WatchResponse comes to `onMessage`, and the stream's
   * end for any reason but cancel() to `onEnd`, once. The caller attaches
   * again after an end (http2-watch.ts); a member that failed is asked last next time.
   */
  watch(message: Buffer, onMessage: (message: Buffer) => void, onEnd: (error: Error) => void): GrpcStream {
    const index = this.preferred % this.endpoints.length
    const endpoint = this.endpoints[index]
    let session: ClientHttp2Session
    let stream: ClientHttp2Stream
    let ended = false
    const end = (error: Error) => {
      if (ended) return
      ended = true
      session?.off('error', end)
      stream?.close(constants.NGHTTP2_CANCEL)
      if (!(error instanceof GrpcStatusError) || memberDown(error)) {
        this.drop(endpoint)
        if (this.localSocket(endpoint)) this.socketFailed.add(endpoint)
        else this.preferred = index + 1
      }

      onEnd(error)
    }

    try {
      session = this.session(endpoint)
      session.once('error', end)
      stream = session.request({
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: '/etcdserverpb.Watch/Watch',
        'content-type': 'application/grpc',
        te: 'trailers',
      })
    } catch (error) {
      queueMicrotask(() => end(error as Error))
      return {cancel: () => (ended = true)}
    }

    let headers: IncomingHttpHeaders = {}
    let pending: Buffer = Buffer.alloc(0)
    stream.on('response', (h) => (headers = h))
    stream.on('trailers', (trailers) => (headers = {...headers, ...trailers}))
    stream.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      // Each gRPC message: a byte saying uncompressed, four of length, the message.
      while (!ended && pending.length >= 5) {
        const length = pending.readUInt32BE(1)
        if (pending.length < 5 + length) break
        if (pending[0] !== 0) return end(new Error(`etcd at ${endpoint} answered with a gRPC frame ec cannot read`))
        const message = pending.subarray(5, 5 + length)
        pending = pending.subarray(5 + length)
        try {
          onMessage(message)
        } catch (error) {
          return end(error as Error)
        }
      }
    })
    stream.on('error', end)
    stream.on('close', () => end(statusError(headers, endpoint, () => this.silentAfterHandshake(session)) ?? new Error(`etcd at ${endpoint} ended the watch stream`)))
    stream.write(frameOf(message))
    return {
      cancel: () => {
        if (ended) return
        ended = true
        session.off('error', end)
        stream.close(constants.NGHTTP2_CANCEL)
      },
    }
  }

  close(): void {
    for (const session of this.sessions.values()) session.destroy()
    this.sessions.clear()
  }

  /** `replayable`: the call may go to another member after one that may have received it failed. */
  private async call(path: string, frame: Buffer, replayable: boolean): Promise<Buffer> {
    const deadline = Date.now() + this.timeoutMs
    const count = this.endpoints.length
    let lastError: Error | undefined
    let retriedFresh = false
    for (let tried = 0; tried < count; tried++) {
      const index = (this.preferred + tried) % count
      const left = deadline - Date.now()
      if (left <= 0) break
      const endpoint = this.endpoints[index]
      const reused = this.sessions.has(endpoint)
      const socket = this.localSocket(endpoint)
      try {
        // Each member left gets an equal share of the time left to connect and
        // shake hands; the answer itself may take all of it.
        const answer = await this.callOn(endpoint, path, frame, left / (count - tried), left)
        this.preferred = index
        return answer
      } catch (error) {
        this.drop(endpoint)
        lastError = error as Error
        const sent = !(lastError instanceof NotSentError)
        if (!replayable && sent) throw lastError
        if (socket && !(lastError instanceof GrpcStatusError)) {
          this.socketFailed.add(endpoint)
          tried-- // the same member, over TLS
          continue
        }

        if (!memberDown(lastError)) throw lastError
        // A kept connection the member had closed meanwhile: ask it again on a new one.
        if (reused && !retriedFresh) {
          retriedFresh = true
          tried--
        }
      }
    }

    throw lastError ?? new Error(`deadline exceeded: etcd did not answer within ${this.timeoutMs} ms`)
  }

  private session(endpoint: string): ClientHttp2Session {
    let session = this.sessions.get(endpoint)
    if (!session || session.closed || session.destroyed) {
      const secure = endpoint.startsWith('https:')
      const socket = this.localSocket(endpoint)
      session = socket
        ? connect('http://localhost', {createConnection: () => connectSocket(socket)})
        : connect(endpoint, secure ? {ca: this.tls?.ca, cert: this.tls?.cert, key: this.tls?.key, servername: this.tls?.serverName} : {})
      // Errors reach the stream's callers; without a listener an 'error' would throw.
      session.on('error', () => undefined)
      // Each call in flight listens for the session's error: many at once are no leak.
      session.setMaxListeners(0)
      session.once('remoteSettings', () => this.spoken.add(session!))
      // A kept connection never holds a CLI open.
      session.unref()
      this.sessions.set(endpoint, session)
    }

    return session
  }

  /**
   * A TLS session that finished its handshake and was closed before the server
   * spoke HTTP/2: etcd checks its CRL only after the handshake and closes the
   * connection of a revoked certificate without a TLS alert.
   */
  private silentAfterHandshake(session: ClientHttp2Session): boolean {
    return session.encrypted === true && !session.connecting && !this.spoken.has(session)
  }

  private localSocket(endpoint: string): string | undefined {
    return this.socketFailed.has(endpoint) ? undefined : this.tls?.localSockets?.[endpoint]
  }

  private drop(endpoint: string): void {
    this.sessions.get(endpoint)?.destroy()
    this.sessions.delete(endpoint)
  }

  private callOn(endpoint: string, path: string, frame: Buffer, connectMs: number, totalMs: number): Promise<Buffer> {
    const session = this.session(endpoint)
    return new Promise((resolve, reject) => {
      const stream = session.request({
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: path,
        'content-type': 'application/grpc',
        te: 'trailers',
        // gRPC allows at most eight digits: past 27 hours, no deadline is sent.
        ...(totalMs < 1e8 ? {'grpc-timeout': `${Math.max(1, Math.ceil(totalMs))}m`} : {}),
      })
      let settled = false
      const finish = (error: Error | undefined, answer?: Buffer) => {
        if (settled) return
        settled = true
        clearTimeout(connectTimer)
        clearTimeout(totalTimer)
        session.off('error', fail)
        if (error) {
          stream.close(constants.NGHTTP2_CANCEL)
          reject(error)
        } else {
          resolve(answer!)
        }
      }

      // While the session is still connecting, nothing of the call has left.
      const fail = (error: Error) => finish(session.connecting ? new NotSentError(error.message, (error as NodeJS.ErrnoException).code) : error)
      const connectTimer = setTimeout(() => {
        if (session.connecting) fail(timeoutError(`deadline exceeded: no connection to etcd at ${endpoint} within ${Math.round(connectMs)} ms`))
      }, connectMs)
      const totalTimer = setTimeout(() => fail(timeoutError(`deadline exceeded: etcd at ${endpoint} did not answer within ${Math.round(totalMs)} ms`)), totalMs)
      session.once('error', fail)

      let headers: IncomingHttpHeaders = {}
      const chunks: Buffer[] = []
      stream.on('response', (h) => (headers = h))
      stream.on('trailers', (trailers) => (headers = {...headers, ...trailers}))
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('error', fail)
      stream.on('close', () => {
        if (settled) return
        const failure = statusError(headers, endpoint, () => this.silentAfterHandshake(session))
        if (failure) return fail(failure)
        try {
          finish(undefined, unframe(Buffer.concat(chunks), endpoint))
        } catch (error) {
          fail(error as Error)
        }
      })
      stream.end(frame)
    })
  }
}

// Read by describeEtcdError as a refused certificate (exit 3), not a member down.
const REVOKED_HINT = ' after the TLS handshake, as etcd does when its CRL lists the certificate revoked'

/** What a call's closed stream says went wrong: none for gRPC status OK. */
function statusError(headers: IncomingHttpHeaders, endpoint: string, silentAfterHandshake: () => boolean): Error | undefined {
  const status = headers['grpc-status']
  if (status === undefined) {
    const httpStatus = headers[constants.HTTP2_HEADER_STATUS]
    return httpStatus === undefined
      ? Object.assign(new Error(`etcd at ${endpoint} closed the connection before answering${silentAfterHandshake() ? REVOKED_HINT : ''}`), {code: 'ECONNRESET'})
      : new Error(`etcd at ${endpoint} answered HTTP ${httpStatus} with no gRPC status`)
  }

  const code = Number(status)
  return code === GRPC_OK ? undefined : new GrpcStatusError(code, `etcd: ${decodeURIComponent(String(headers['grpc-message'] ?? `gRPC status ${code}`))}`)
}

/** gRPC's framing of one message: uncompressed (0), then the message's length. */
function frameOf(message: Buffer): Buffer {
  const frame = Buffer.alloc(5 + message.length)
  frame.writeUInt32BE(message.length, 1)
  message.copy(frame, 5)
  return frame
}

/** The one message of a unary answer: a byte saying uncompressed, four of length, the message. */
function unframe(body: Buffer, endpoint: string): Buffer {
  if (body.length < 5 || body[0] !== 0) throw new Error(`etcd at ${endpoint} answered with a gRPC frame ec cannot read`)
  const length = body.readUInt32BE(1)
  if (body.length < 5 + length) throw new Error(`etcd at ${endpoint} answered with a truncated gRPC frame`)
  return body.subarray(5, 5 + length)
}

function timeoutError(message: string): Error {
  return Object.assign(new Error(message), {code: 'ETIMEDOUT'})
}

function memberDown(error: Error): boolean {
  if (error instanceof GrpcStatusError) return error.grpcCode === GRPC_UNAVAILABLE || error.grpcCode === GRPC_DEADLINE
  const code = (error as NodeJS.ErrnoException).code
  return code !== undefined && MEMBER_DOWN.has(code)
}
