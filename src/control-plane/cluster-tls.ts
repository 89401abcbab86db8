// What `ec up` does for mutual TLS before it starts anything: the cluster CA
// (created once, kept across restarts), the local admin's client certificate,
// and the admin's credentials bundle that every ec command on this machine
// finds by default (<state>/credentials.json, mode 0600).
import {existsSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {dirname} from 'node:path'

import {localCredentialsFile} from '../config/defaults.js'
import {writeBundle} from '../credentials/bundle.js'
import {type ControlPlaneTls, serverName} from './services.js'

/** The local admin's client name; `ec cluster revoke` refuses it. */
export const LOCAL_ADMIN = 'admin'

export async function prepareClusterTls(
  tls: ControlPlaneTls,
  endpoints: {etcd: string[]; placement: string[]},
  etcdLocalSockets: Record<string, string>,
): Promise<void> {
  await tls.authority.ensure()
  if (!existsSync(tls.admin.cert) || !existsSync(tls.admin.key)) await tls.authority.issueClient(LOCAL_ADMIN, tls.admin)
  // Rewritten on every start: the endpoints follow controlPlane.
  const stateDir = dirname(tls.authority.dir)
  await writeBundle(
    localCredentialsFile(stateDir),
    {
      name: LOCAL_ADMIN,
      etcd: {endpoints: endpoints.etcd, serverName: serverName('etcd'), localSockets: etcdLocalSockets},
      placement: {urls: endpoints.placement},
      ca: await readFile(tls.authority.caCert, 'utf8'),
      cert: await readFile(tls.admin.cert, 'utf8'),
      key: await readFile(tls.admin.key, 'utf8'),
    },
    {replace: true},
  )
}

/** Loopback by name or number: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

