// The metadata HTTP server (fastify). It serves, from memory, what the data
// directory holds:
//
//   /<token>/meta-data, user-data, vendor-data, network-config   NoCloud-net
//   POST /<token>/phone-home                                     cloud-init's phone_home
//   /healthz                                                     {"service":"ec-mdserver",…}
//   /latest/…, /<ec2-version>/…, PUT /latest/api/token           EC2   } only with ec2.enabled, and
//   /openstack/…                                                 OpenStack } only to the instance's address
//
// One server per host:port and process: the agent's backend and a standalone
// `startMetadataServer` in the same process share it (reference counted).
//
// EC2/OpenStack at 169.254.169.254 needs a one-time host setup (as root; ec
// does not do it). The server tells guests apart by source address, which
// libvirt's user networking cannot give (every guest arrives from 127.0.0.1),
// so use a libvirt network, e.g. libvirt.network {mode: network, name:
// default} (virbr0, 192.168.122.1/24), and config
//   metadata: {host: 192.168.122.1, guestBaseUrl: http://192.168.122.1:8775, ec2: {enabled: true}}
// then answer for the address on the bridge and send port 80 to the server:
//   ip addr add 169.254.169.254/32 dev virbr0
//   iptables -t nat -I PREROUTING -i virbr0 -d 169.254.169.254/32 -p tcp --dport 80 -j REDIRECT --to-ports 8775
//   iptables -I INPUT -i virbr0 -p tcp --dport 8775 -j ACCEPT   # libvirt's rules only let DHCP/DNS in
// REDIRECT keeps the guest's source address, which must equal the
// InstanceMetadata.address the agent publishes. (Not persistent: put it in
// the host's network configuration, or a libvirt network hook.)
import {createHash, randomBytes} from 'node:crypto'
import {EventEmitter} from 'node:events'
import {readFileSync} from 'node:fs'
import {get} from 'node:http'
import {realpath} from 'node:fs/promises'
import {isIP, type Socket} from 'node:net'

import Fastify, {type FastifyInstance, type FastifyReply, type FastifyRequest} from 'fastify'

import type {Logger, PhoneHome} from '@ec/plugin-api'

import {type CachedInstance, InstanceCache, normalizeAddress} from './cache.js'
import {EC2_VERSIONS, ec2Lookup, NETWORK_CONFIG, OPENSTACK_VERSIONS} from './documents.js'
import {MetadataBackendError, messageOf} from './errors.js'
import {ensureDataDir, readRecord, TOKEN_PATTERN, withInstanceLock, writeRecord} from './store.js'

export const SERVICE_NAME = 'ec-mdserver'
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {version: string}).version

/** Marks the backend's own "is it served yet?" requests, whose 404s are logged at debug level only. */
export const PROBE_HEADER = 'x-ec-mdserver-probe'

/** Larger request bodies (phone-home is the only one) are refused with 413. */
export const BODY_LIMIT_BYTES = 64 * 1024
const IMDS_TOKEN_MAX_TTL = 21_600

export interface ServerSettings {
  host: string
  port: number
  ec2?: {enabled: boolean}
  /** How often the data directory is re-checked besides fs.watch (default 2000 ms). */
  rescanMs?: number
}

/** A handle on a running server. close() releases it; the last handle stops the server. */
export interface MetadataServer {
  /** http://host:port as this process reaches it. */
  readonly url: string
  readonly host: string
  readonly port: number
  readonly dataDir: string
  /** Phone-homes this server receives; returns a function that unsubscribes. */
  onPhoneHome(handler: (report: PhoneHome) => void): () => void
  /** Re-read one instance's file now; resolves when the server serves what it holds. */
  refresh(instanceId: string): Promise<void>
  close(): Promise<void>
}

/** The port is taken (by something: the caller may check whether it is another ec mdserver). */
export class AddressInUseError extends MetadataBackendError {
  readonly addressInUse = true
}

/** A stable, non-revealing name of a data directory, so two processes can tell they share one. */
export async function dataDirId(dataDir: string): Promise<string> {
  const real = await realpath(dataDir).catch(() => dataDir)
  return createHash('sha256').update(real).digest('hex').slice(0, 16)
}

/** The URL to reach host:port from this machine (wildcard addresses go to loopback). */
export function localUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  return `http://${isIP(h) === 6 ? `[${h}]` : h}:${port}`
}

const running = new Map<string, Promise<ServerCore>>()

/**
 * Start the metadata server on settings.host:settings.port serving `dataDir`,
 * or join the one this process already runs there. Throws a BackendError:
 * `environment` when the port is taken (an AddressInUseError) or the data
 * directory cannot be made.
 */
export async function startMetadataServer(settings: ServerSettings, dataDir: string, log: Logger): Promise<MetadataServer> {
  const key = `${settings.host}:${settings.port}`
  let pending = running.get(key)
  if (!pending) {
    pending = ServerCore.start(settings, dataDir, log)
    running.set(key, pending)
    pending.catch(() => running.delete(key))
  }

  const core = await pending
  if (core.dataDir !== dataDir && (await dataDirId(core.dataDir)) !== (await dataDirId(dataDir))) {
    throw new MetadataBackendError('environment', `this process already serves metadata on ${key} from ${core.dataDir}, not ${dataDir}; give metadata.port another value`)
  }

  core.refs++
  let released = false
  return {
    url: core.url,
    host: core.host,
    port: core.port,
    dataDir: core.dataDir,
    onPhoneHome(handler) {
      core.events.on('phone-home', handler)
      return () => core.events.off('phone-home', handler)
    },
    refresh: (id) => core.cache.reload(id),
    async close() {
      if (released) return
      released = true
      if (--core.refs > 0) return
      running.delete(key)
      await core.stop()
    },
  }
}

/** What GET /healthz on host:port says, if it is an ec mdserver; undefined otherwise. */
export async function probeMetadataServer(url: string, timeoutMs = 1000): Promise<{service: string; version?: string; dataDirId?: string} | undefined> {
  const answer = await httpGet(`${url}/healthz`, timeoutMs)
  if (answer?.status !== 200) return undefined
  try {
    const body = JSON.parse(answer.body) as {service?: unknown; version?: unknown; dataDirId?: unknown}
    if (body?.service !== SERVICE_NAME) return undefined
    return {
      service: SERVICE_NAME,
      version: typeof body.version === 'string' ? body.version : undefined,
      dataDirId: typeof body.dataDirId === 'string' ? body.dataDirId : undefined,
    }
  } catch {
    return undefined
  }
}

/**
 * One GET on a connection of its own (no keep-alive pool: the other end may
 * be anything), at most 64 KiB of body; undefined when it fails or times out.
 */
export function httpGet(url: string, timeoutMs: number, headers: Record<string, string> = {}): Promise<{status: number; body: string} | undefined> {
  return new Promise((resolve) => {
    const request = get(url, {agent: false, timeout: timeoutMs, headers: {...headers, connection: 'close'}}, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        body += chunk
        if (body.length > 64 * 1024) request.destroy()
      })
      response.on('end', () => resolve({status: response.statusCode ?? 0, body}))
      response.on('error', () => resolve(undefined))
    })
    request.on('timeout', () => request.destroy())
    request.on('error', () => resolve(undefined))
  })
}

interface ImdsToken {
  instanceId: string
  address: string
  expiresAt: number
}

class ServerCore {
  refs = 0
  readonly events = new EventEmitter()
  private readonly imdsTokens = new Map<string, ImdsToken>()
  private health = ''

  private constructor(
    readonly host: string,
    readonly port: number,
    readonly dataDir: string,
    readonly cache: InstanceCache,
    private readonly app: FastifyInstance,
    private readonly log: Logger,
  ) {
    // one listener per backend in this process; handlers are called one by one in phoneHome()
    this.events.setMaxListeners(0)
  }

  get url(): string {
    return localUrl(this.host, this.port)
  }

  static async start(settings: ServerSettings, dataDir: string, log: Logger): Promise<ServerCore> {
    await ensureDataDir(dataDir)
    const cache = new InstanceCache(dataDir, log, {rescanMs: settings.rescanMs})
    const app = Fastify({
      logger: false,
      bodyLimit: BODY_LIMIT_BYTES,
      routerOptions: {maxParamLength: 100},
      forceCloseConnections: true,
      requestTimeout: 30_000,
      return503OnClosing: true,
      trustProxy: false,
      http: {maxHeaderSize: 16 * 1024},
      clientErrorHandler: (error, socket) => clientError(error, socket, log),
    })
    const core = new ServerCore(settings.host, settings.port, dataDir, cache, app, log)
    core.health = JSON.stringify({service: SERVICE_NAME, version: VERSION, dataDirId: await dataDirId(dataDir)})
    core.routes(settings.ec2?.enabled ?? false)
    await cache.start()
    try {
      await app.listen({host: settings.host, port: settings.port})
    } catch (error) {
      cache.close()
      await app.close().catch(() => undefined)
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EADDRINUSE') {
        throw new AddressInUseError('environment', `port ${settings.port} on ${settings.host} is in use by another program; stop it or set metadata.port (EC_METADATA_PORT)`, {cause: error, notApplied: true})
      }

      if (code === 'EADDRNOTAVAIL' || code === 'EACCES') {
        throw new MetadataBackendError('environment', `cannot listen on ${settings.host}:${settings.port} (${code}); set metadata.host and metadata.port to an address of this machine`, {cause: error, notApplied: true})
      }

      throw new MetadataBackendError('environment', `cannot start the metadata server on ${settings.host}:${settings.port}: ${messageOf(error)}`, {cause: error})
    }

    log.info(`metadata server listening on ${core.url} (data in ${dataDir}${settings.ec2?.enabled ? '; EC2 and OpenStack layouts on' : ''})`)
    return core
  }

  async stop(): Promise<void> {
    this.cache.close()
    this.events.removeAllListeners()
    await this.app.close()
  }

  // ---- routes --------------------------------------------------------------

  private routes(ec2: boolean): void {
    const app = this.app
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('application/json', {parseAs: 'string'}, (_request, body, done) => {
      try {
        done(null, body === '' ? {} : JSON.parse(body as string))
      } catch {
        done(Object.assign(new Error('the body is not valid JSON'), {statusCode: 400}), undefined)
      }
    })
    app.addContentTypeParser('application/x-www-form-urlencoded', {parseAs: 'string'}, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)))
    })

    app.setNotFoundHandler((request, reply) => this.refuse(request, reply, 404, 'no such path'))
    app.setErrorHandler((error: Error & {statusCode?: number}, request, reply) => {
      const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
      if (status >= 500) {
        this.log.warn(`metadata: ${request.method} ${printable(request.url)} failed: ${messageOf(error)}`)
        return reply.code(500).type('text/plain').send('internal error\n')
      }

      return this.refuse(request, reply, status, error.message)
    })

    app.get('/healthz', (_request, reply) => {
      reply.type('application/json').send(this.health)
    })

    type TokenRequest = FastifyRequest<{Params: {token: string}}>
    const nocloud = (pick: (i: CachedInstance) => string | Buffer) => (request: TokenRequest, reply: FastifyReply) => {
      const instance = this.instanceFor(request.params.token)
      if (!instance) return this.refuse(request, reply, 404, 'unknown token')
      return reply.type('text/plain; charset=utf-8').send(pick(instance))
    }

    app.get('/:token/meta-data', nocloud((i) => i.metaData))
    app.get('/:token/user-data', nocloud((i) => i.userData))
    app.get('/:token/vendor-data', nocloud((i) => i.vendorData))
    app.get('/:token/network-config', nocloud(() => NETWORK_CONFIG))
    app.post('/:token/phone-home', (request: TokenRequest, reply) => this.phoneHome(request, reply))

    if (!ec2) return
    const ec2Handler = (request: FastifyRequest, reply: FastifyReply) => this.ec2(request, reply)
    app.get('/', ec2Handler)
    for (const version of EC2_VERSIONS) {
      app.get(`/${version}`, ec2Handler)
      app.get(`/${version}/*`, ec2Handler)
    }

    app.put('/latest/api/token', (request, reply) => this.imdsToken(request, reply))
    const openstack = (request: FastifyRequest, reply: FastifyReply) => this.openstack(request, reply)
    app.get('/openstack', openstack)
    app.get('/openstack/*', openstack)
  }

  private instanceFor(token: string): CachedInstance | undefined {
    return TOKEN_PATTERN.test(token) ? this.cache.byTokenGet(token) : undefined
  }

  private refuse(request: FastifyRequest, reply: FastifyReply, status: number, why: string): FastifyReply {
    const level = status === 404 && request.headers[PROBE_HEADER] !== undefined ? 'debug' : 'warn'
    this.log[level](`metadata: refused ${request.method} ${printable(request.url)} from ${request.socket.remoteAddress ?? '?'}: ${status} ${printable(why)}`)
    return reply.code(status).type('text/plain').send(`${status} ${reasonPhrase(status)}\n`)
  }

  // ---- phone-home ----------------------------------------------------------

  private async phoneHome(request: FastifyRequest<{Params: {token: string}}>, reply: FastifyReply): Promise<FastifyReply> {
    const instance = this.instanceFor(request.params.token)
    if (!instance) return this.refuse(request, reply, 404, 'unknown token')
    const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<string, unknown>
    const source = normalizeAddress(request.socket.remoteAddress)
    const said = (name: string): string | undefined => {
      const value = body[name]
      return typeof value === 'string' && value.length > 0 && value.length <= 255 ? value : undefined
    }

    const claimed = said('instance_id') ?? said('instance-id')
    if (claimed !== undefined && claimed !== instance.id) {
      this.log.warn(`metadata: phone-home on ${instance.id}'s token claims instance ${printable(claimed)}; recorded for ${instance.id}`)
    }

    const hostname = said('hostname') ?? said('fqdn')
    const addressSaid = said('address') ?? said('ip')
    // A loopback source is NAT's (libvirt user networking): the host's address, not the guest's.
    const address = addressSaid && isIP(addressSaid) ? addressSaid : source && !isLoopback(source) ? source : undefined
    const hostKeys = HOST_KEY_FIELDS.map((field) => body[field]).filter((key): key is string => typeof key === 'string' && HOST_KEY.test(key.trim())).map((key) => key.trim().split(/\s+/).slice(0, 2).join(' '))
    const at = new Date().toISOString()
    const recorded = await withInstanceLock(this.dataDir, instance.id, async () => {
      const record = await readRecord(this.dataDir, instance.id)
      if (!record || record.token !== instance.token) return false
      record.phoneHome = {at, address, hostname: hostname && /^[A-Za-z0-9.-]{1,253}$/.test(hostname) ? hostname : undefined, source, hostKeys}
      await writeRecord(this.dataDir, record)
      return true
    })
    if (!recorded) return this.refuse(request, reply, 404, 'unknown token')
    await this.cache.reload(instance.id)
    this.log.info(`metadata: ${instance.id} phoned home from ${source ?? '?'}${address && address !== source ? ` (address ${address})` : ''}`)
    const report: PhoneHome = {instanceId: instance.id, address, hostname, hostKeys, receivedAt: at}
    for (const handler of this.events.listeners('phone-home')) {
      try {
        ;(handler as (r: PhoneHome) => void)(report)
      } catch (error) {
        this.log.warn(`metadata: a phone-home handler failed: ${messageOf(error)}`)
      }
    }

    return reply.type('application/json').send('{"ok":true}')
  }

  // ---- EC2 -----------------------------------------------------------------

  /** The instance whose address the request comes from; undefined after refusing the request. */
  private caller(request: FastifyRequest, reply: FastifyReply): CachedInstance | undefined {
    const address = normalizeAddress(request.socket.remoteAddress)
    const {instance, ambiguous} = this.cache.byAddressGet(address)
    if (ambiguous) this.refuse(request, reply, 403, `several instances have address ${address}`)
    else if (!instance) this.refuse(request, reply, 403, `no instance has address ${address}`)
    return instance
  }

  private ec2(request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const caller = this.caller(request, reply)
    if (!caller) return reply
    const presented = request.headers['x-aws-ec2-metadata-token']
    if (presented !== undefined) {
      const token = typeof presented === 'string' ? this.imdsTokens.get(presented) : undefined
      if (!token || token.expiresAt < Date.now() || token.address !== caller.address || token.instanceId !== caller.id) {
        return this.refuse(request, reply, 401, 'invalid or expired IMDSv2 token')
      }
    }

    const segments = pathSegments(request.url)
    if (!segments) return this.refuse(request, reply, 404, 'malformed path')
    if (segments.length === 0 || (segments.length === 1 && segments[0] === '')) {
      return reply.type('text/plain').send(EC2_VERSIONS.join('\n'))
    }

    const [version, ...rest] = segments
    if (!EC2_VERSIONS.includes(version)) return this.refuse(request, reply, 404, 'unknown version')
    const found = ec2Lookup(caller.ec2, rest)
    if (!found) return this.refuse(request, reply, 404, 'no such metadata')
    return reply.type(found.contentType).send(found.body)
  }

  private imdsToken(request: FastifyRequest, reply: FastifyReply): FastifyReply {
    if (request.headers['x-forwarded-for'] !== undefined) return this.refuse(request, reply, 403, 'IMDSv2 tokens are not issued through proxies')
    const raw = request.headers['x-aws-ec2-metadata-token-ttl-seconds']
    const ttl = typeof raw === 'string' && /^\d{1,6}$/.test(raw) ? Number(raw) : Number.NaN
    if (!(ttl >= 1 && ttl <= IMDS_TOKEN_MAX_TTL)) {
      return this.refuse(request, reply, 400, `X-aws-ec2-metadata-token-ttl-seconds must be 1..${IMDS_TOKEN_MAX_TTL}`)
    }

    const caller = this.caller(request, reply)
    if (!caller) return reply
    if (this.imdsTokens.size > 1024) {
      const now = Date.now()
      for (const [key, value] of this.imdsTokens) if (value.expiresAt < now) this.imdsTokens.delete(key)
    }

    const token = randomBytes(32).toString('base64url')
    this.imdsTokens.set(token, {instanceId: caller.id, address: caller.address!, expiresAt: Date.now() + ttl * 1000})
    return reply.header('x-aws-ec2-metadata-token-ttl-seconds', String(ttl)).type('text/plain').send(token)
  }

  // ---- OpenStack -----------------------------------------------------------

  private openstack(request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const caller = this.caller(request, reply)
    if (!caller) return reply
    const segments = pathSegments(request.url)?.slice(1) // drop "openstack"
    if (!segments) return this.refuse(request, reply, 404, 'malformed path')
    const trimmed = segments.at(-1) === '' ? segments.slice(0, -1) : segments
    if (trimmed.length === 0) return reply.type('text/plain').send(OPENSTACK_VERSIONS.join('\n'))
    const [version, file, ...more] = trimmed
    if (!OPENSTACK_VERSIONS.includes(version) || more.length > 0) return this.refuse(request, reply, 404, 'no such metadata')
    const files = caller.openstack
    if (file === undefined) return reply.type('text/plain').send(Object.keys(files).sort().join('\n'))
    if (segments.at(-1) === '') return this.refuse(request, reply, 404, 'no such metadata')
    const body = (files as unknown as Record<string, string | undefined>)[file]
    if (body === undefined || !Object.hasOwn(files, file)) return this.refuse(request, reply, 404, 'no such metadata')
    return reply.type(file.endsWith('.json') ? 'application/json' : 'application/octet-stream').send(body)
  }
}

/** The form fields cloud-init's phone_home fills with the guest's SSH host public keys. */
const HOST_KEY_FIELDS = ['pub_key_rsa', 'pub_key_ecdsa', 'pub_key_ed25519']
/** "type base64 [comment]", one line, of a type ssh knows. */
const HOST_KEY = /^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.')
}

/** The path's segments after the leading "/", or undefined when it has anything a metadata path never has. */
function pathSegments(url: string): string[] | undefined {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  if (path.includes('%') || path.includes('\\')) return undefined
  const segments = path.slice(1).split('/')
  if (segments.length === 1 && segments[0] === '') return []
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]
    if (s === '.' || s === '..') return undefined
    if (s === '' && i !== segments.length - 1) return undefined
  }

  return segments
}

function clientError(error: NodeJS.ErrnoException, socket: Socket, log: Logger): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }

  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
  log.warn(`metadata: refused a malformed request from ${socket.remoteAddress ?? '?'}: ${status} ${error.code ?? messageOf(error)}`)
  socket.end(`HTTP/1.1 ${status} ${reasonPhrase(status)}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

function reasonPhrase(status: number): string {
  const phrases: Record<number, string> = {400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout', 413: 'Payload Too Large', 414: 'URI Too Long', 415: 'Unsupported Media Type', 431: 'Request Header Fields Too Large'}
  return phrases[status] ?? 'Error'
}

/** For log lines: no control characters, at most 200 characters. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, '?')
  return clean.length > 200 ? clean.slice(0, 200) + '…' : clean
}
