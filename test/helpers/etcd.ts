import {readFileSync} from 'node:fs'

import type {IOptions} from 'etcd3'

import {EtcdTransport} from '../../plugins/etcd/src/transport.js'
import {credentialsFor} from './credentials.js'

/** Every key under ec's prefix, with its value, read straight from etcd (with the control plane's credentials). */
export async function etcdKeys(endpoint: string, prefix = '/ec'): Promise<Record<string, string>> {
  const credentials = credentialsFor(endpoint)
  const transport = new EtcdTransport({endpoints: [endpoint], prefix, timeoutMs: 5000, ...(credentials ? {tls: {credentials}} : {})})
  try {
    const {items} = await transport.list('')
    return Object.fromEntries(items.map((kv) => [kv.key, kv.value]))
  } finally {
    await transport.close()
  }
}

/** Options for a raw etcd3 client of a test's control plane (its credentials included). */
export function etcd3Options(endpoint: string): IOptions {
  const credentials = credentialsFor(endpoint)
  if (!credentials) return {hosts: [endpoint]}
  const bundle = JSON.parse(readFileSync(credentials, 'utf8')) as {ca: string; cert: string; key: string; etcd: {serverName?: string}}
  return {
    hosts: [endpoint],
    credentials: {rootCertificate: Buffer.from(bundle.ca), certChain: Buffer.from(bundle.cert), privateKey: Buffer.from(bundle.key)},
    ...(bundle.etcd.serverName ? {grpcOptions: {'grpc.ssl_target_name_override': bundle.etcd.serverName}} : {}),
  }
}
