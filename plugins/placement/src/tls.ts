// The client certificate Placement asks for: from a credentials bundle (one JSON
// file with ca, cert and key in PEM), or from separate PEM files, which win.
import {readFileSync} from 'node:fs'

import type {PlacementSettings} from './config.js'
import {PlacementBackendError} from './errors.js'

export interface TlsMaterial {
  ca?: Buffer
  cert?: Buffer
  key?: Buffer
}

export function tlsMaterial(tls: NonNullable<PlacementSettings['tls']>): TlsMaterial {
  const bundle = tls.credentials ? readBundle(tls.credentials) : {}
  const file = (path: string | undefined) => (path ? readPem(path) : undefined)
  return {
    ca: file(tls.ca) ?? pem(bundle.ca),
    cert: file(tls.cert) ?? pem(bundle.cert),
    key: file(tls.key) ?? pem(bundle.key),
  }
}

function pem(text: unknown): Buffer | undefined {
  return typeof text === 'string' ? Buffer.from(text) : undefined
}

function readBundle(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
  } catch (error) {
    throw new PlacementBackendError('config', `cannot read the credentials bundle ${path} (${(error as NodeJS.ErrnoException).code ?? 'not JSON'}); check placement.tls.credentials or --credentials`)
  }
}

function readPem(path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (error) {
    throw new PlacementBackendError('config', `cannot read ${path} (${(error as NodeJS.ErrnoException).code}); check placement.tls`)
  }
}
