// The etcd v3 transport: every key lives under the configured prefix, values
// are strings, revisions are etcd's mod revisions (decimal strings).
import {setTimeout as sleep} from 'node:timers/promises'

import {handleWhen, noop, retry} from 'cockatiel'
import {Etcd3, type IKeyValue, type IOptions, type Lease as EtcdLease, type Watcher} from 'etcd3'
import {
  type KeyValue,
  type Lease,
  loadClientTls,
  type ServiceHealth,
  type TransportBackend,
  type TxnGuard,
  type TxnOp,
  type TxnResult,
  type WatchEvent,
  type WatchHandle,
  type WatchOptions,
} from '@ec/plugin-api'

import type {EtcdSettings} from './config.js'
import {describeEtcdError, WatchCompactedError} from './errors.js'
import {WatchDelivery} from './watch-delivery.js'

/**
 * grpc-js's words for a call that found no connection to its member: it was
 * never sent, so sending it to another member replays nothing.
 */
const NEVER_SENT = /No connection established|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH/

/** How often a compaction probe is sent to an etcd that does not answer yet. */
const PROBE_ATTEMPTS = 5

export class EtcdTransport implements TransportBackend {
  private readonly client: Etcd3
  private readonly prefix: string
  /** Open watches, closed with the transport: etcd3 would otherwise keep reconnecting them. */
  private readonly watches = new Set<WatchHandle>()

  constructor(private readonly settings: EtcdSettings) {
    // A trailing slash keeps "/ec" from matching "/ec2/…" in prefix reads.
    this.prefix = settings.prefix.endsWith('/') ? settings.prefix : settings.prefix + '/'
    this.client = new Etcd3(clientOptions(settings))
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const response = await this.call(() => this.client.get(this.full(key)).exec())
    const kv = response.kvs[0]
    return kv ? this.toKeyValue(kv) : undefined
  }

  async list(prefix: string): Promise<{items: KeyValue[]; revision: string}> {
    const response = await this.call(() => this.client.getAll().prefix(this.full(prefix)).exec())
    return {items: response.kvs.map((kv) => this.toKeyValue(kv)), revision: response.header.revision}
  }

  async commit(guards: TxnGuard[], ops: TxnOp[]): Promise<TxnResult> {
    if (guards.length === 0 && ops.length === 0) return {ok: true}
    return this.call(async () => {
      // etcd3 builds a transaction from its first comparison; with no guards
      // we compare "version >= 0", which every key (present or not) passes.
      const compares: Array<[string, 'Create' | 'Mod' | 'Version', '==' | '>', string | number]> = guards.map((g) =>
        g.modRevision === null ? [this.full(g.key), 'Create', '==', 0] : [this.full(g.key), 'Mod', '==', g.modRevision],
      )
      if (compares.length === 0) compares.push([this.full(ops[0].key), 'Version', '>', -1])
      const [first, ...rest] = compares
      const txn = this.client.if(...first)
      for (const compare of rest) txn.and(...compare)
      txn.then(
        ...ops.map((op) => {
          if (op.op === 'delete') return this.client.delete().key(this.full(op.key))
          const put = this.client.put(this.full(op.key)).value(op.value)
          return op.lease ? put.lease(op.lease) : put
        }),
      )
      const response = await txn.commit()
      return {ok: response.succeeded, revision: response.succeeded ? response.header.revision : undefined}
    })
  }

  async watch(prefix: string, options: WatchOptions): Promise<WatchHandle> {
    let builder = this.client.watch().prefix(this.full(prefix))
    if (options.afterRevision !== undefined) builder = builder.startRevision((BigInt(options.afterRevision) + 1n).toString())
    const watcher: Watcher = await this.call(() => builder.create())
    const delivery = new WatchDelivery(options, () => {
      this.watches.delete(handle)
      void watcher.cancel().catch(() => undefined)
    })
    watcher.on('data', (response) =>
      delivery.deliver(
        response.events,
        (event) => event.kv.mod_revision,
        (event): WatchEvent =>
          event.type === 'Delete' ? {type: 'delete', key: this.relative(event.kv.key), modRevision: event.kv.mod_revision} : {type: 'put', kv: this.toKeyValue(event.kv)},
        response.header.revision,
      ),
    )
    // etcd3 re-attaches a broken watch by itself; tell the consumer, which lists again.
    let disconnected = false
    watcher.on('disconnected', () => (disconnected = true))
    watcher.on('connected', () => {
      if (!disconnected) return
      disconnected = false
      delivery.resumed()
    })
    watcher.on('error', (error: Error) => {
      if (delivery.ended) return
      void this.explainWatchFailure(prefix, delivery.delivered, error).then((explained) => delivery.end(explained))
    })
    const handle: WatchHandle = {
      close: async () => {
        this.watches.delete(handle)
        if (!delivery.ended) await watcher.cancel()
        await delivery.close()
      },
    }
    this.watches.add(handle)
    return handle
  }

  /**
   * etcd cancels a watch whose start revision was compacted, but etcd3 drops
   * the compact revision from the cancel; a read at the revision the watch
   * needed tells compaction apart from other failures.
   */
  private async explainWatchFailure(prefix: string, delivered: bigint, error: Error): Promise<Error> {
    if (/compact/i.test(error.message)) return new WatchCompactedError(prefix, error)
    if (delivered === 0n) return describeEtcdError(error, this.settings.endpoints) // no resume point to lose
    // The probe is a read, safe to repeat: the channel the cancelled watch
    // shared is often being re-established (a TLS handshake) when it is sent.
    for (let attempt = 1; attempt <= PROBE_ATTEMPTS; attempt++) {
      try {
        await this.client.kv.range({key: Buffer.from(this.full(prefix)), revision: (delivered + 1n).toString(), limit: 1})
        break
      } catch (probeError) {
        if (/compacted/i.test((probeError as Error).message)) return new WatchCompactedError(prefix, error)
        if ((describeEtcdError(probeError, this.settings.endpoints) as {reason?: string}).reason !== 'unavailable') break
        await sleep(200 * attempt)
      }
    }

    return describeEtcdError(error, this.settings.endpoints)
  }

  async grantLease(ttlSeconds: number): Promise<Lease> {
    const lease: EtcdLease = this.client.lease(ttlSeconds)
    const id = await this.call(() => lease.grant())
    const lost = new Promise<void>((resolve) => lease.once('lost', () => resolve()))
    return {
      id,
      lost,
      revoke: async () => {
        if (!lease.revoked()) await lease.revoke().catch(() => undefined)
      },
    }
  }

  async health(): Promise<ServiceHealth> {
    const endpoint = this.settings.endpoints.join(',')
    try {
      const status = await this.call(() => this.client.maintenance.status())
      return {ok: true, endpoint, version: status.version}
    } catch (error) {
      return {ok: false, endpoint, detail: (error as Error).message}
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.watches].map((w) => w.close().catch(() => undefined)))
    this.client.close()
  }

  private full(key: string): string {
    return this.prefix + key
  }

  private relative(key: Buffer): string {
    return key.toString().slice(this.prefix.length)
  }

  private toKeyValue(kv: IKeyValue): KeyValue {
    return {
      key: this.relative(kv.key),
      value: kv.value.toString(),
      modRevision: kv.mod_revision,
      createRevision: kv.create_revision,
    }
  }

  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (error) {
      throw describeEtcdError(error, this.settings.endpoints)
    }
  }
}

function clientOptions(settings: EtcdSettings): IOptions {
  const options: IOptions = {
    hosts: settings.endpoints,
    dialTimeout: settings.timeoutMs,
    // Unary calls fail after timeoutMs; streams (watches, keepalives) are long-lived.
    defaultCallOptions: (context) => (context.isStream ? {} : {deadline: Date.now() + settings.timeoutMs}),
    // etcd3 would replay a call whose deadline expired, including a transaction
    // etcd had applied, whose replay then fails its own guard. No call is
    // replayed here; callers decide (the contract: TransportBackend.commit).
    // The per-host circuit breaker stays: it replays nothing, it only moves
    // calls to another member of a cluster while one does not answer. A call
    // that could not connect to the member it drew goes to the next one (each
    // once): with one member of three down, no call fails for that.
    faultHandling: {
      global:
        settings.endpoints.length > 1
          ? retry(handleWhen((error) => NEVER_SENT.test(error.message)), {maxAttempts: settings.endpoints.length - 1})
          : noop,
    },
  }
  if (settings.username) options.auth = {username: settings.username, password: settings.password ?? ''}
  if (settings.tls) {
    const {ca, cert, key, serverName} = loadClientTls(settings.tls, 'etcd')
    options.credentials = {rootCertificate: ca ?? Buffer.alloc(0), privateKey: key, certChain: cert}
    // SNI cannot carry an IP: verify ec's etcd by the name its certificate carries for that.
    if (serverName) options.grpcOptions = {'grpc.ssl_target_name_override': serverName}
  }

  return options
}
