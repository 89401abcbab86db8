// Credentials for other machines and users: `ec cluster credentials NAME`
// issues a client certificate from the cluster CA and hands it out as one
// bundle file; `ec cluster revoke NAME` puts NAME's certificates on the CRL
// that etcd and Placement check every new connection against.
import {readFile, rm, writeFile} from 'node:fs/promises'
import {join, resolve} from 'node:path'

import {writeBundle} from '../credentials/bundle.js'
import {EcError} from '../errors.js'
import {CLIENT_NAME} from '../pki/authority.js'
import {LOCAL_ADMIN} from './cluster-tls.js'
import type {ControlPlane} from './control-plane.js'
import {controlPlaneTls, serverName} from './services.js'
import {withStateLock} from './state-lock.js'

export interface IssuedCredentials {
  name: string
  file: string
  etcd: string[]
  placement: string[]
}

export interface RevokedCredentials {
  name: string
  /** Serial numbers of the certificates revoked now (empty: all were revoked before). */
  revoked: string[]
}

export async function issueCredentials(controlPlane: ControlPlane, name: string, out: string | undefined): Promise<IssuedCredentials> {
  checkName(name)
  const file = resolve(out ?? `${name}.credentials.json`)
  const tls = authorityOf(controlPlane)
  const endpoints = controlPlane.endpoints()
  // Take the file first: a certificate nobody could receive is access nobody needs.
  await reserveFile(file)
  return withStateLock(pkiLock(tls.authority.dir), async () => {
    const pair = {
      cert: join(tls.authority.dir, 'clients', `.${name}.${process.pid}.crt`),
      key: join(tls.authority.dir, 'clients', `.${name}.${process.pid}.key`),
    }
    try {
      await tls.authority.issueClient(name, pair)
      await writeBundle(
        file,
        {
          name,
          etcd: {endpoints: endpoints.etcd, serverName: serverName('etcd')},
          placement: {urls: endpoints.placement},
          ca: await readFile(tls.authority.caCert, 'utf8'),
          cert: await readFile(pair.cert, 'utf8'),
          key: await readFile(pair.key, 'utf8'),
        },
        {replace: true},
      )
    } catch (error) {
      await rm(file, {force: true})
      throw error
    } finally {
      // The CA keeps the certificate (issued/, for revocation); the key lives only in the bundle.
      await rm(pair.key, {force: true})
      await rm(pair.cert, {force: true})
    }

    return {name, file, etcd: endpoints.etcd, placement: endpoints.placement}
  })
}

export async function revokeCredentials(controlPlane: ControlPlane, name: string): Promise<RevokedCredentials> {
  checkName(name)
  if (name === LOCAL_ADMIN) {
    throw new EcError('usage', `"${LOCAL_ADMIN}" is this machine's own client (ec up's credentials); revoking it would lock ec out of its control plane`)
  }

  const tls = authorityOf(controlPlane)
  return withStateLock(pkiLock(tls.authority.dir), async () => {
    if (!(await tls.authority.knows(name))) {
      throw new EcError('notFound', `no credentials were issued to "${name}"; "ec cluster credentials ${name}" issues them`)
    }

    return {name, revoked: await tls.authority.revoke(name)}
  })
}

async function reserveFile(file: string): Promise<void> {
  try {
    await writeFile(file, '', {flag: 'wx', mode: 0o600})
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new EcError('conflict', `${file} exists already; choose another --out or remove it`)
    throw new EcError('environment', `cannot write ${file} (${code ?? String(error)}); choose another --out`)
  }
}

function checkName(name: string): void {
  if (!CLIENT_NAME.test(name)) {
    throw new EcError('usage', `"${name}" is not a valid client name; use letters, digits, ".", "_" and "-" (at most 64)`)
  }
}

function authorityOf(controlPlane: ControlPlane) {
  const tls = controlPlaneTls(controlPlane.stateDir)
  if (!tls.authority.exists()) {
    throw new EcError(
      'notFound',
      `no cluster CA under ${tls.authority.dir}; run "ec up" on this machine first (with mutual TLS, the default), or pass the control plane's --state-dir`,
    )
  }

  return tls
}

function pkiLock(dir: string) {
  return {dir, name: 'pki.lock', holder: 'another ec cluster command'}
}
