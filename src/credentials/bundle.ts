// A credentials bundle: everything a client on another machine needs to reach
// the control plane — the cluster CA, its own certificate and key, and the
// endpoints — in one owner-only JSON file. Plugins read the PEMs from it
// themselves (etcd.tls.credentials, placement.tls.credentials).
import {readFileSync} from 'node:fs'
import {open} from 'node:fs/promises'

import {EcError} from '../errors.js'
import type {ClientCredentials} from '@ec/plugin-api'

export interface CredentialsBundle {
  /** The client's name: its certificate's CN, what `ec cluster revoke` takes. */
  name: string
  /** serverName: the name etcd's certificate carries besides its addresses (gRPC verifies it). */
  etcd: {endpoints: string[]; serverName?: string}
  /** Every controller's Placement: clients fail over between them. */
  placement: {urls: string[]}
  ca: string
  cert: string
  key: string
}

/** The bundle's endpoints, for config defaults; a one-line config error when it is unreadable. */
export function clientCredentials(file: string, origin: string): ClientCredentials {
  const bundle = readBundle(file, origin)
  return {file, etcdEndpoints: bundle.etcd.endpoints, placementUrls: bundle.placement.urls}
}

export function readBundle(file: string, origin = 'credentials'): CredentialsBundle {
  let parsed: Partial<CredentialsBundle>
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<CredentialsBundle>
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code ?? 'not JSON'
    throw new EcError('config', `credentials file ${file} (from ${origin}) cannot be read (${why}); give a bundle made by "ec cluster credentials NAME"`)
  }

  const missing = ['name', 'ca', 'cert', 'key'].filter((k) => typeof parsed[k as keyof CredentialsBundle] !== 'string')
  if (!Array.isArray(parsed.etcd?.endpoints)) missing.push('etcd.endpoints')
  if (!Array.isArray(parsed.placement?.urls)) missing.push('placement.urls')
  if (missing.length > 0) {
    throw new EcError('config', `credentials file ${file} (from ${origin}) lacks ${missing.join(', ')}; make a new one with "ec cluster credentials NAME"`)
  }

  return parsed as CredentialsBundle
}

/** Write a bundle readable only by its owner; refuses to replace a file unless `replace`. */
export async function writeBundle(file: string, bundle: CredentialsBundle, options: {replace: boolean}): Promise<void> {
  let handle
  try {
    handle = await open(file, options.replace ? 'w' : 'wx', 0o600)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new EcError('conflict', `${file} exists already; choose another --out or remove it`)
    throw new EcError('environment', `cannot write ${file} (${code ?? String(error)}); choose another --out`)
  }

  try {
    await handle.chmod(0o600) // an existing file keeps its mode on open()
    await handle.writeFile(JSON.stringify(bundle, null, 2) + '\n')
  } finally {
    await handle.close()
  }
}
