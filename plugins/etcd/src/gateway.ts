// Reads through etcd's JSON gateway: `POST /v3/kv/range` over HTTP/1.1 on the
// client port (etcd serves it beside gRPC, on by default). Loading the gRPC
// client (etcd3, grpc-js, protobufjs) costs a command like `ec instance list`
// several times what the read itself does; node:https is already in Node.
//
// The same checks as the gRPC path: the CA verifies etcd's certificate (by
// the bundle's server name when it has one), the client certificate is
// presented, and the read is linearizable (the gateway's default, as gRPC's).
// Across several members: the one that answered last is asked first; a member
// that refuses the connection, does not finish its handshake within its share
// of the deadline, or answers "unavailable" (no leader) hands over to the next.
// A refused certificate or a bad request is final: another member would say
// the same.
import {Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage} from 'node:http'
import {Agent as HttpsAgent, request as httpsRequest} from 'node:https'

import type {TlsMaterial} from '@ec/plugin-api'

export interface GatewayKeyValue {
  key: Buffer
  value: Buffer
  modRevision: string
  createRevision: string
}

export interface RangeResult {
  kvs: GatewayKeyValue[]
  revision: string
}

/** The gateway is switched off (etcd --enable-grpc-gateway=false) or too old for /v3/: use gRPC. */
export class GatewayUnsupportedError extends Error {
  constructor(endpoint: string) {
    super(`etcd at ${endpoint} serves no JSON gateway at /v3/kv/range`)
    this.name = 'GatewayUnsupportedError'
  }
}

/** An error etcd answered with (a gRPC status, carried as JSON). */
export class GatewayStatusError extends Error {
  constructor(
    readonly grpcCode: number,
    message: string,
  ) {
    super(message)
    // Named as etcd3 names its errors, so describeEtcdError reads both alike.
    this.name = grpcCode === GRPC_UNAVAILABLE ? 'GRPCUnavailableError' : grpcCode === GRPC_DEADLINE ? 'GRPCDeadlineExceededError' : 'GRPCError'
  }
}

const GRPC_DEADLINE = 4
const GRPC_UNAVAILABLE = 14
/** Connection-level failures after which another member may answer. */
const MEMBER_DOWN = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EADDRNOTAVAIL'])

interface RawKeyValue {
  key?: string
  value?: string
  mod_revision?: string
  create_revision?: string
}

export class EtcdGateway {
  private preferred = 0
  private readonly agent: HttpAgent

  constructor(
    private readonly endpoints: string[],
    private readonly tls: TlsMaterial | undefined,
    private readonly timeoutMs: number,
  ) {
    // Keep-alive sockets are unref'd by Node's agent, so they never hold a CLI open.
    const secure = endpoints.some((e) => e.startsWith('https:'))
    this.agent = secure
      ? new HttpsAgent({keepAlive: true, ca: tls?.ca, cert: tls?.cert, key: tls?.key, servername: tls?.serverName})
      : new HttpAgent({keepAlive: true})
  }

  /** Keys in [key, rangeEnd); just `key` without rangeEnd. */
  async range(key: Buffer, rangeEnd?: Buffer): Promise<RangeResult> {
    const body = JSON.stringify({key: key.toString('base64'), ...(rangeEnd ? {range_end: rangeEnd.toString('base64')} : {})})
    const answer = (await this.post('/v3/kv/range', body)) as {header?: {revision?: string}; kvs?: RawKeyValue[]}
    return {
      revision: answer.header?.revision ?? '0',
      // proto3 JSON leaves out empty fields: an empty value is absent.
      kvs: (answer.kvs ?? []).map((kv) => ({
        key: Buffer.from(kv.key ?? '', 'base64'),
        value: Buffer.from(kv.value ?? '', 'base64'),
        modRevision: kv.mod_revision ?? '0',
        createRevision: kv.create_revision ?? '0',
      })),
    }
  }

  close(): void {
    this.agent.destroy()
  }

  private async post(path: string, body: string): Promise<unknown> {
    const deadline = Date.now() + this.timeoutMs
    const count = this.endpoints.length
    let lastError: Error | undefined
    let retriedFresh = false
    for (let tried = 0; tried < count; tried++) {
      const index = (this.preferred + tried) % count
      const left = deadline - Date.now()
      if (left <= 0) break
      try {
        // Each member left gets an equal share of the time left to connect and
        // shake hands; the answer itself may take all of it.
        const answer = await this.postTo(this.endpoints[index], path, body, left / (count - tried), left)
        this.preferred = index
        return answer
      } catch (error) {
        lastError = error as Error
        if (!memberDown(lastError)) throw lastError
        // A kept-alive connection the member had closed meanwhile: ask it again on a new one.
        if ((lastError as {reusedSocket?: boolean}).reusedSocket && !retriedFresh) {
          retriedFresh = true
          tried--
        }
      }
    }

    throw lastError ?? new Error(`deadline exceeded: etcd did not answer within ${this.timeoutMs} ms`)
  }

  private postTo(endpoint: string, path: string, body: string, connectMs: number, totalMs: number): Promise<unknown> {
    const url = new URL(path, endpoint.endsWith('/') ? endpoint : endpoint + '/')
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest
    return new Promise((resolve, reject) => {
      let connected = false
      const req: ClientRequest = request(url, {
        method: 'POST',
        agent: this.agent,
        headers: {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)},
      })
      const fail = (error: Error) => {
        clearTimeout(connectTimer)
        clearTimeout(totalTimer)
        req.destroy()
        reject(req.reusedSocket ? Object.assign(error, {reusedSocket: true}) : error)
      }

      const connectTimer = setTimeout(() => {
        if (!connected) fail(timeoutError(`deadline exceeded: no connection to etcd at ${endpoint} within ${Math.round(connectMs)} ms`))
      }, connectMs)
      const totalTimer = setTimeout(() => fail(timeoutError(`deadline exceeded: etcd at ${endpoint} did not answer within ${Math.round(totalMs)} ms`)), totalMs)
      req.on('socket', (socket) => {
        if (req.reusedSocket) connected = true
        else socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => (connected = true))
      })
      req.on('error', fail)
      req.on('response', (response: IncomingMessage) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('error', fail)
        response.on('end', () => {
          clearTimeout(connectTimer)
          clearTimeout(totalTimer)
          const text = Buffer.concat(chunks).toString('utf8')
          if (response.statusCode === 404 || response.statusCode === 405) {
            reject(new GatewayUnsupportedError(endpoint))
            return
          }

          let parsed: {error?: string; message?: string; code?: number}
          try {
            parsed = JSON.parse(text) as typeof parsed
          } catch {
            reject(new Error(`etcd at ${endpoint} answered HTTP ${response.statusCode} with no JSON: ${text.slice(0, 200)}`))
            return
          }

          if (response.statusCode === 200 && parsed.code === undefined) resolve(parsed)
          else reject(new GatewayStatusError(parsed.code ?? 2, `etcd: ${parsed.message ?? parsed.error ?? `HTTP ${response.statusCode}`}`))
        })
      })
      req.end(body)
    })
  }
}

function timeoutError(message: string): Error {
  return Object.assign(new Error(message), {code: 'ETIMEDOUT'})
}

function memberDown(error: Error): boolean {
  if (error instanceof GatewayStatusError) return error.grpcCode === GRPC_UNAVAILABLE || error.grpcCode === GRPC_DEADLINE
  const code = (error as NodeJS.ErrnoException).code
  return (code !== undefined && MEMBER_DOWN.has(code)) || /socket hang up/.test(error.message)
}
