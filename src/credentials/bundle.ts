// A credentials bundle: everything a client on another machine needs to reach
// the control plane — the cluster CA, its own certificate and key, and the
// endpoints — in one owner-only JSON file. Plugins read the PEMs from it
// themselves (etcd.tls.credentials, placement.tls.credentials).
import {readFileSync} from 'node:fs'
import {open, rename, rm} from 'node:fs/promises'

import {EcError} from '../errors.js'
import type {ClientCredentials} from '@ec/plugin-api'

export interface CredentialsBundle {
  /** The client's name: its certificate's CN, what `ec cluster revoke` takes. */
  name: string
  /**
   * serverName: the name etcd's certificate carries besides its addresses (gRPC verifies it).
   * localSockets: only in the local admin's bundle, for each member on this
   * machine, the unix socket it also serves (endpoint → path).
   */
  etcd: {endpoints: string[]; serverName?: string; localSockets?: Record<string, string>}
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

/**
 * Write a bundle readable only by its owner; refuses to replace a file unless
 * `replace`. A replacement is written beside the file and renamed over it:
 * every ec command and agent may read the bundle at any moment (ec up rewrites
 * the local one on each start) and must see the old bundle or the new one,
 * never half of one.
 */
export async function writeBundle(file: string, bundle: CredentialsBundle, options: {replace: boolean}): Promise<void> {
  const content = JSON.stringify(bundle, null, 2) + '\n'
  if (!options.replace) {
    await writeOwnerOnly(file, content)
    return
  }

  const temp = `${file}.${process.pid}.tmp`
  try {
    await rm(temp, {force: true}) // left by a process of this pid that died mid-write
    await writeOwnerOnly(temp, content)
    await rename(temp, file)
  } catch (error) {
    await rm(temp, {force: true})
    if (error instanceof EcError) throw error
    throw new EcError('environment', `cannot write ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)}); check the directory's permissions`)
  }
}

/** Create `file` (it must not exist) with mode 0600 and `content`. */
async function writeOwnerOnly(file: string, content: string): Promise<void> {
  let handle
  try {
    handle = await open(file, 'wx', 0o600)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new EcError('conflict', `${file} exists already; choose another --out or remove it`)
    throw new EcError('environment', `cannot write ${file} (${code ?? String(error)}); choose another --out`)
  }

  try {
    await handle.writeFile(content)
  } finally {
    await handle.close()
  }
}
