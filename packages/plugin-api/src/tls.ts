// Mutual TLS for a backend's client: the certificate a service behind ec's
// control plane asks for, from a credentials bundle (`ec cluster credentials`,
// or the local admin's `<stateDir>/credentials.json`: one JSON file with `ca`,
// `cert` and `key` in PEM and a section per service) or from separate PEM
// files, which win over the bundle's.
import {readFileSync} from 'node:fs'

import {EcError} from './errors.js'
import type {JsonSchema} from './backend.js'

/** A section's `tls:` settings (paths). */
export interface ClientTlsSettings {
  credentials?: string
  ca?: string
  cert?: string
  key?: string
  /** The name to verify the server's certificate by, instead of the endpoint's host. */
  serverName?: string
}

/** The PEM material itself, ready for node's tls/https options (plus the name to verify). */
export interface TlsMaterial {
  ca?: Buffer
  cert?: Buffer
  key?: Buffer
  /** Absent unless set, or given by the bundle's section of this service (e.g. `etcd.serverName`). */
  serverName?: string
  /**
   * From the bundle's section only (the local admin's, which `ec up` writes):
   * endpoint → a unix socket of the same server on this machine, where the
   * socket file's mode takes the place of the certificate. A client may use it
   * instead of TLS to that endpoint, and must fall back to TLS when it cannot.
   */
  localSockets?: Record<string, string>
}

/** The JSON Schema of ClientTlsSettings, for a section's `tls` property. */
export function clientTlsSchema(options: {serverName?: boolean} = {}): JsonSchema {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      credentials: {type: 'string'},
      ca: {type: 'string'},
      cert: {type: 'string'},
      key: {type: 'string'},
      ...(options.serverName ? {serverName: {type: 'string', minLength: 1}} : {}),
    },
  }
}

/**
 * Read the files `tls` names. `section` is the config section's key (`etcd`,
 * `placement`): errors point at `<section>.tls`, and the bundle's own
 * `<section>.serverName` is the default server name. A file that cannot be
 * read is a config error (exit 3) naming the file.
 */
export function loadClientTls(tls: ClientTlsSettings, section: string): TlsMaterial {
  const bundle = tls.credentials ? readBundle(tls.credentials, section) : {}
  const file = (path: string | undefined) => (path ? readPem(path, section) : undefined)
  const material: TlsMaterial = {
    ca: file(tls.ca) ?? pem(bundle.ca),
    cert: file(tls.cert) ?? pem(bundle.cert),
    key: file(tls.key) ?? pem(bundle.key),
  }
  const own = bundle[section] as {serverName?: unknown; localSockets?: unknown} | undefined
  const serverName = tls.serverName ?? own?.serverName
  if (typeof serverName === 'string') material.serverName = serverName
  if (isStringRecord(own?.localSockets)) material.localSockets = own.localSockets
  return material
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && Object.values(value).every((v) => typeof v === 'string')
}

function pem(text: unknown): Buffer | undefined {
  return typeof text === 'string' ? Buffer.from(text) : undefined
}

function readBundle(path: string, section: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
  } catch (error) {
    throw new EcError('config', `cannot read the credentials bundle ${path} (${(error as NodeJS.ErrnoException).code ?? 'not JSON'}); check ${section}.tls.credentials or --credentials`)
  }
}

function readPem(path: string, section: string): Buffer {
  try {
    return readFileSync(path)
  } catch (error) {
    throw new EcError('config', `cannot read ${path} (${(error as NodeJS.ErrnoException).code}); check ${section}.tls`)
  }
}
