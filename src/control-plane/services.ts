// The services of the control plane, as data: how to start each, where its
// files live, and how to tell that it answers. One machine runs its etcd
// member(s), the private MariaDB when Placement uses one, and Placement.
import {accessSync, constants, readFileSync} from 'node:fs'
import {mkdir, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {etcdMemberAddresses, urlHost, type ControlPlaneConfig} from '../config/defaults.js'
import {EcError} from '../errors.js'
import {CertificateAuthority, type IssuedPair} from '../pki/authority.js'
import {gunicornTlsConfig} from './gunicorn-tls.js'
import {connectionParameters, mariadbService, placementDatabase, syncPlacementSchema} from './mariadb.js'
import {probeJson, type ProbeTls} from './probe.js'

export interface PortUse {
  /** The address the port is bound on. */
  host: string
  port: number
  /** What the port is for, and the config key that sets it. */
  purpose: string
  configKey: string
}

export interface Health {
  healthy: boolean
  version?: string
  detail?: string
}

export interface ServiceSpec {
  /** etcd, etcd@ADDRESS (one of several members here), mariadb or placement. */
  name: string
  /** Executable to run; an absolute path where only Debian's copy will do. */
  command: string
  /** Name to recognise the process by in /proc (pid reuse). */
  processName: string
  /** Debian package that provides what this service needs. */
  debianPackage: string
  /** Files besides the command that must exist, each with the package that ships it. */
  requiredFiles: Array<{path: string; debianPackage: string}>
  endpoint: string
  /**
   * A unix socket the service also listens on for clients on this machine:
   * its file mode (the owner's, in a 0700 directory) stands in for a client
   * certificate, and a short-lived command saves the TLS start-up on it.
   */
  localSocket?: string
  ports: PortUse[]
  dir: string
  dataPaths: string[]
  logFile: string
  pidFile: string
  prepare(): Promise<void>
  /** Services of one group are started together, then waited for (the members of an etcd cluster). */
  startGroup?: string
  /** Run once the service answers for the first time after this start (e.g. create a database). */
  afterStart?(): Promise<void>
  args(): string[]
  env(): Record<string, string>
  probe(): Promise<Health>
}

/** The control plane's certificates under <state>/pki, when it runs with mutual TLS. */
export interface ControlPlaneTls {
  authority: CertificateAuthority
  etcd: IssuedPair
  placement: IssuedPair
  /** The local admin's client certificate: the CLI's default, and what health probes present. */
  admin: IssuedPair
  /** Paths of a named certificate and key under pki/. */
  pair(name: string): IssuedPair
}

export function controlPlaneTls(stateDir: string): ControlPlaneTls {
  const dir = join(stateDir, 'pki')
  const pair = (name: string) => ({cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`)})
  return {authority: new CertificateAuthority(dir), etcd: pair('etcd'), placement: pair('placement'), admin: pair('clients/admin'), pair}
}

// MariaDB comes first: another controller's Placement may already wait for it
// while this one's etcd waits for a quorum.
export function controlPlaneServices(stateDir: string, cp: ControlPlaneConfig): ServiceSpec[] {
  const tls = cp.tls ? controlPlaneTls(stateDir) : undefined
  const members = etcdMemberAddresses(cp)
  const local = localEtcdMembers(cp)
  const etcd = local.map((address) => etcdService(stateDir, cp, address, members, local.length > 1, tls))
  const database = cp.placement.database === 'mariadb' ? [mariadbService(stateDir, cp)] : []
  return [...database, ...etcd, placementService(stateDir, cp, tls)]
}

/** The members this machine runs: itself among --peers, or all of --etcd-members. */
function localEtcdMembers(cp: ControlPlaneConfig): string[] {
  if (cp.etcd.peers.length > 0) {
    if (cp.etcd.members > 1) {
      throw new EcError('usage', '--etcd-members runs every member on this machine and --peers one per machine; give one of them')
    }

    if (!cp.etcd.peers.includes(cp.host)) {
      throw new EcError('usage', `--listen ${cp.host} is not among --peers ${cp.etcd.peers.join(',')}; list every controller's address, this one's included`)
    }

    return [cp.host]
  }

  const members = etcdMemberAddresses(cp)
  if (members.some((address) => !/^\d+\.\d+\.\d+\.([01]?\d?\d|2[0-4]\d|25[0-5])$/.test(address))) {
    throw new EcError('usage', `--etcd-members ${cp.etcd.members} needs an IPv4 --listen address with room for ${cp.etcd.members} consecutive addresses after it (e.g. 127.0.0.1)`)
  }

  return members
}

/**
 * The names a server certificate carries: where it listens, loopback by name
 * and number, and its role (`etcd.ec`), which gRPC clients verify instead of
 * an IP (TLS SNI cannot carry one), so the certificate fits every address.
 */
function serverAddresses(addresses: string[], role: 'etcd' | 'placement'): string[] {
  return [...addresses, '127.0.0.1', 'localhost', serverName(role)]
}

export function serverName(role: 'etcd' | 'placement'): string {
  return `${role}.ec`
}

function probeTls(tls: ControlPlaneTls | undefined): ProbeTls | undefined {
  if (!tls) return undefined
  try {
    return {ca: readFileSync(tls.authority.caCert), cert: readFileSync(tls.admin.cert), key: readFileSync(tls.admin.key)}
  } catch {
    return undefined // not issued yet: the probe fails the handshake and says so
  }
}

const ETCD_SOCKET = 'client.sock:0'

function etcdService(
  stateDir: string,
  cp: ControlPlaneConfig,
  address: string,
  members: string[],
  several: boolean,
  tls?: ControlPlaneTls,
): ServiceSpec {
  const dir = join(stateDir, several ? `etcd-${address}` : 'etcd')
  const dataDir = join(dir, 'data')
  const scheme = tls ? 'https' : 'http'
  const clientUrl = `${scheme}://${urlHost(address)}:${cp.etcd.clientPort}`
  // etcd takes a unix listener only in host:port form, relative to its working
  // directory (the service's): "client.sock:0" names the file. Plain, as etcd
  // serves every unix listener: who may connect is the file's mode (etcd's
  // directory is 0700), the same as who may read the CA's key.
  const socketListener = tls ? [`unix://${ETCD_SOCKET}`] : []
  const localSocket = tls ? join(dir, ETCD_SOCKET) : undefined
  const peerUrl = (member: string) => `${scheme}://${urlHost(member)}:${cp.etcd.peerPort}`
  // Each member on this machine has its own certificate: they start, and read it, together.
  const pair = tls ? (several ? tls.pair(`etcd-${address}`) : tls.etcd) : undefined
  // Clients and peers must present a certificate of the cluster CA that its CRL does not revoke.
  const tlsArgs =
    tls && pair
      ? [
          `--cert-file=${pair.cert}`,
          `--key-file=${pair.key}`,
          `--trusted-ca-file=${tls.authority.caCert}`,
          '--client-cert-auth',
          `--client-crl-file=${tls.authority.crl}`,
          `--peer-cert-file=${pair.cert}`,
          `--peer-key-file=${pair.key}`,
          `--peer-trusted-ca-file=${tls.authority.caCert}`,
          '--peer-client-cert-auth',
          `--peer-crl-file=${tls.authority.crl}`,
        ]
      : []
  const memberName = (member: string) => (members.length === 1 ? 'ec' : `ec-${member}`)
  return {
    name: several ? `etcd@${address}` : 'etcd',
    startGroup: 'etcd',
    command: 'etcd',
    processName: 'etcd',
    debianPackage: 'etcd-server',
    requiredFiles: [],
    endpoint: clientUrl,
    ...(localSocket ? {localSocket} : {}),
    ports: [
      {host: address, port: cp.etcd.clientPort, purpose: 'etcd client', configKey: 'controlPlane.etcd.clientPort'},
      {host: address, port: cp.etcd.peerPort, purpose: 'etcd peer', configKey: 'controlPlane.etcd.peerPort'},
    ],
    dir,
    dataPaths: [dataDir],
    logFile: join(dir, 'etcd.log'),
    pidFile: join(dir, 'etcd.pid'),
    async prepare() {
      await mkdir(dataDir, {recursive: true, mode: 0o700})
      // A member killed with -9 leaves its socket behind, and etcd will not bind over it.
      if (localSocket) await rm(localSocket, {force: true})
      if (tls && pair) await tls.authority.issueServer('etcd', serverAddresses([address, cp.host], 'etcd'), pair)
    },
    // The initial-cluster flags matter only the first time; afterwards the member's data says who it is.
    args: () => [
      `--name=${memberName(address)}`,
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${[clientUrl, ...socketListener].join(',')}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl(address)}`,
      `--initial-advertise-peer-urls=${peerUrl(address)}`,
      `--initial-cluster=${members.map((member) => `${memberName(member)}=${peerUrl(member)}`).join(',')}`,
      '--initial-cluster-state=new',
      '--initial-cluster-token=ec',
      '--log-level=warn',
      '--logger=zap',
      ...tlsArgs,
    ],
    env: () => ({}),
    async probe() {
      const credentials = probeTls(tls)
      const [health, version] = await Promise.all([
        probeJson(`${clientUrl}/health`, 2000, credentials),
        probeJson(`${clientUrl}/version`, 2000, credentials),
      ])
      const healthy = health.ok && (health.body as {health?: string})?.health === 'true'
      return {
        healthy,
        version: (version.body as {etcdserver?: string} | undefined)?.etcdserver,
        detail: healthy ? undefined : (health.error ?? `health: ${JSON.stringify(health.body)}`),
      }
    },
  }
}

// Placement is a Python WSGI app; Debian ships it for the system Python, so
// it must run under Debian's gunicorn, not whatever gunicorn is first on PATH.
const DEBIAN_GUNICORN = '/usr/bin/gunicorn'
const PLACEMENT_WSGI = '/usr/lib/python3/dist-packages/placement/wsgi.py'

function placementService(stateDir: string, cp: ControlPlaneConfig, tls?: ControlPlaneTls): ServiceSpec {
  const dir = join(stateDir, 'placement')
  const sqlite = cp.placement.database === 'sqlite'
  const database = placementDatabase(stateDir, cp)
  const url = `${tls ? 'https' : 'http'}://${urlHost(cp.host)}:${cp.placement.port}`
  // SQLite takes one writer at a time: one sync worker serializes requests,
  // where more would fail concurrent writes with "database is locked".
  const workers = sqlite ? 1 : cp.placement.workers
  const gunicornConfig = join(dir, 'gunicorn.conf.py')
  // Placement stays noauth2: only holders of a certificate from the cluster CA reach it.
  const tlsArgs = tls
    ? [
        `--config=${gunicornConfig}`,
        `--certfile=${tls.placement.cert}`,
        `--keyfile=${tls.placement.key}`,
        `--ca-certs=${tls.authority.caCert}`,
        '--cert-reqs=2',
      ]
    : []
  return {
    name: 'placement',
    command: DEBIAN_GUNICORN,
    processName: 'gunicorn',
    debianPackage: 'gunicorn',
    requiredFiles: [{path: PLACEMENT_WSGI, debianPackage: 'python3-placement'}],
    endpoint: url,
    ports: [{host: cp.host, port: cp.placement.port, purpose: 'Placement API', configKey: 'controlPlane.placement.port'}],
    dir,
    dataPaths: [...database.files, join(dir, 'placement.conf')],
    logFile: join(dir, 'placement.log'),
    pidFile: join(dir, 'placement.pid'),
    async prepare() {
      await mkdir(dir, {recursive: true, mode: 0o700})
      const connection = await database.url()
      const parameters = connectionParameters(connection)
      await writeFile(
        join(dir, 'placement.conf'),
        [
          '# Written by `ec up`; rewritten on every start.',
          '[DEFAULT]',
          'debug = False',
          'use_stderr = True',
          '[api]',
          'auth_strategy = noauth2',
          '[placement_database]',
          `connection = ${connection}`,
          ...(parameters ? [`connection_parameters = ${parameters}`] : []),
          // Several workers would race to migrate a server database: ec syncs it once, below.
          `sync_on_startup = ${sqlite ? 'True' : 'False'}`,
          '',
        ].join('\n'),
        {mode: 0o600},
      )
      // The private MariaDB syncs the schema when it starts; another database is synced here.
      if (!sqlite && cp.placement.database !== 'mariadb') await syncPlacementSchema(dir, cp.startTimeoutSeconds)
      if (tls) {
        await tls.authority.issueServer('placement', serverAddresses([cp.host], 'placement'), tls.placement)
        await writeFile(gunicornConfig, gunicornTlsConfig(tls.authority.crl))
      }
    },
    args: () => [
      `--bind=${urlHost(cp.host)}:${cp.placement.port}`,
      `--workers=${workers}`,
      '--worker-class=sync',
      '--threads=1',
      '--timeout=120',
      '--graceful-timeout=10',
      ...tlsArgs,
      'placement.wsgi:init_application()',
    ],
    env: () => ({OS_PLACEMENT_CONFIG_DIR: dir, PYTHONDONTWRITEBYTECODE: '1'}),
    async probe() {
      const root = await probeJson(`${url}/`, 2000, probeTls(tls))
      const versions = (root.body as {versions?: Array<{max_version?: string; min_version?: string}>} | undefined)
        ?.versions
      const healthy = root.ok && Array.isArray(versions) && versions.length > 0
      return {
        healthy,
        version: healthy ? `API ${versions[0].min_version}–${versions[0].max_version}` : undefined,
        detail: healthy ? undefined : (root.error ?? `GET / answered ${root.status}`),
      }
    },
  }
}

/** The absolute path of a command (searching PATH), or undefined when absent. */
export function findExecutable(command: string, path = process.env.PATH ?? ''): string | undefined {
  const candidates = command.includes('/') ? [command] : path.split(':').filter(Boolean).map((d) => join(d, command))
  return candidates.find((candidate) => {
    try {
      accessSync(candidate, constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}
