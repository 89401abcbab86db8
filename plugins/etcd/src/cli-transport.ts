// The etcd transport for short-lived CLI commands (`ec instance list`,
// `create`, `delete`, `show`, completion): reads (get, list) and writes
// (commit) are one gRPC call each over node:http2 (http2-client.ts), and a
// watch is one stream (http2-watch.ts), so such a command never loads the
// gRPC client (etcd3, grpc-js, protobufjs), which costs it several times what
// its calls do. Leases and health go to the etcd3 transport (transport.ts),
// loaded on the first of them.
//
// Only processes that open the backend with `shortLived` get this (see
// BackendContext.shortLived): agents, `ec up` and every long-lived process
// keep the gRPC transport for everything.
import type {KeyValue, Lease, ServiceHealth, TlsMaterial, TransportBackend, TxnGuard, TxnOp, TxnResult, WatchHandle, WatchOptions} from '@ec/plugin-api'
import {importBundled, loadClientTls} from '@ec/plugin-api'

import type {EtcdSettings} from './config.js'
import {describeEtcdError} from './errors.js'
import {EtcdHttp2Client} from './http2-client.js'
import {watchOverHttp2} from './http2-watch.js'
import type {RangeAnswer, RangeKeyValue} from './range-codec.js'
import type {TxnCompare, TxnRequestOp} from './txn-codec.js'
import type {EtcdTransport} from './transport.js'

export class EtcdCliTransport implements TransportBackend {
  private readonly prefix: string
  private readonly tls?: TlsMaterial
  private readonly client: EtcdHttp2Client
  private grpc?: Promise<EtcdTransport>
  /** Open watches, closed with the transport. */
  private readonly watches = new Set<WatchHandle>()
  private closed = false

  constructor(private readonly settings: EtcdSettings) {
    // A trailing slash keeps "/ec" from matching "/ec2/…" in prefix reads (as transport.ts).
    this.prefix = settings.prefix.endsWith('/') ? settings.prefix : settings.prefix + '/'
    // Read now: a bundle that cannot be read is a config error at once, as the gRPC transport's constructor reports it.
    this.tls = settings.tls ? loadClientTls(settings.tls, 'etcd') : undefined
    this.client = new EtcdHttp2Client(settings.endpoints, this.tls, settings.timeoutMs)
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const kv = (await this.read(Buffer.from(this.prefix + key))).kvs[0]
    return kv ? this.toKeyValue(kv) : undefined
  }

  async list(prefix: string): Promise<{items: KeyValue[]; revision: string}> {
    const start = Buffer.from(this.prefix + prefix)
    const answer = await this.read(start, prefixEnd(start))
    return {items: answer.kvs.map((kv) => this.toKeyValue(kv)), revision: answer.revision}
  }

  async commit(guards: TxnGuard[], ops: TxnOp[]): Promise<TxnResult> {
    if (guards.length === 0 && ops.length === 0) return {ok: true}
    // "Must not exist" is a create revision of 0; otherwise the key's last write must be the one given.
    const compares: TxnCompare[] = guards.map((g) => ({
      key: Buffer.from(this.prefix + g.key),
      target: g.modRevision === null ? 'create' : 'mod',
      result: 'equal',
      value: g.modRevision ?? '0',
    }))
    const requests: TxnRequestOp[] = ops.map((op) =>
      op.op === 'delete'
        ? {delete: {key: Buffer.from(this.prefix + op.key)}}
        : {put: {key: Buffer.from(this.prefix + op.key), value: Buffer.from(op.value), lease: op.lease}},
    )
    try {
      const answer = await this.client.txn(compares, requests)
      return {ok: answer.succeeded, revision: answer.succeeded ? answer.revision : undefined}
    } catch (error) {
      throw describeEtcdError(error, this.settings.endpoints)
    }
  }

  async watch(prefix: string, options: WatchOptions): Promise<WatchHandle> {
    if (this.closed) throw new Error('etcd transport is closed')
    const key = Buffer.from(this.prefix + prefix)
    const handle = await watchOverHttp2(
      {client: this.client, endpoints: this.settings.endpoints, timeoutMs: this.settings.timeoutMs, key, rangeEnd: prefixEnd(key), relative: (full) => full.slice(this.prefix.length)},
      prefix,
      options,
    )
    this.watches.add(handle)
    return {
      close: async () => {
        this.watches.delete(handle)
        await handle.close()
      },
    }
  }

  async grantLease(ttlSeconds: number): Promise<Lease> {
    return (await this.transport()).grantLease(ttlSeconds)
  }

  async health(): Promise<ServiceHealth> {
    return (await this.transport()).health()
  }

  async close(): Promise<void> {
    this.closed = true
    await Promise.all([...this.watches].map((w) => w.close().catch(() => undefined)))
    this.client.close()
    const grpc = await this.grpc?.catch(() => undefined)
    await grpc?.close()
  }

  private async read(key: Buffer, rangeEnd?: Buffer): Promise<RangeAnswer> {
    try {
      return await this.client.range(key, rangeEnd)
    } catch (error) {
      throw describeEtcdError(error, this.settings.endpoints)
    }
  }

  private transport(): Promise<EtcdTransport> {
    // A client made after close() would be left reconnecting forever.
    if (this.closed) return Promise.reject(new Error('etcd transport is closed'))
    this.grpc ??= importBundled(new URL('transport.bundle.mjs', import.meta.url), () => import('./transport.js')).then(({EtcdTransport}) => new EtcdTransport(this.settings))
    return this.grpc
  }

  private toKeyValue(kv: RangeKeyValue): KeyValue {
    return {key: kv.key.slice(this.prefix.length), value: kv.value, modRevision: kv.modRevision, createRevision: kv.createRevision}
  }
}

/** The end of the range of keys that start with `start` (etcd's prefix rule: the last byte below 0xff, plus one). */
export function prefixEnd(start: Buffer): Buffer {
  const end = Buffer.from(start)
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++
      return end.subarray(0, i + 1)
    }
  }

  return Buffer.from([0]) // every key
}
