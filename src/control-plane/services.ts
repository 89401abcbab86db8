// The services of the control plane, as data: how to start each, where its
// files live, and how to tell that it answers. One machine runs its etcd
// member(s), the private MariaDB when Placement uses one, and Placement.
import {accessSync, constants} from 'node:fs'
import {mkdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {etcdMemberAddresses, urlHost, type ControlPlaneConfig} from '../config/defaults.js'
import {EcError} from '../errors.js'
import {mariadbService, placementDatabase, syncPlacementSchema} from './mariadb.js'
import {probeJson} from './probe.js'

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

// MariaDB comes first: another controller's Placement may already wait for it
// while this one's etcd waits for a quorum.
export function controlPlaneServices(stateDir: string, cp: ControlPlaneConfig): ServiceSpec[] {
  const members = etcdMemberAddresses(cp)
  const local = localEtcdMembers(cp)
  const etcd = local.map((address) => etcdService(stateDir, cp, address, members, local.length > 1))
  const database = cp.placement.database === 'mariadb' ? [mariadbService(stateDir, cp)] : []
  return [...database, ...etcd, placementService(stateDir, cp)]
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

function etcdService(stateDir: string, cp: ControlPlaneConfig, address: string, members: string[], several: boolean): ServiceSpec {
  const dir = join(stateDir, several ? `etcd-${address}` : 'etcd')
  const dataDir = join(dir, 'data')
  const clientUrl = `http://${urlHost(address)}:${cp.etcd.clientPort}`
  const peerUrl = (member: string) => `http://${urlHost(member)}:${cp.etcd.peerPort}`
  const memberName = (member: string) => (members.length === 1 ? 'ec' : `ec-${member}`)
  return {
    name: several ? `etcd@${address}` : 'etcd',
    startGroup: 'etcd',
    command: 'etcd',
    processName: 'etcd',
    debianPackage: 'etcd-server',
    requiredFiles: [],
    endpoint: clientUrl,
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
    },
    // The initial-cluster flags matter only the first time; afterwards the member's data says who it is.
    args: () => [
      `--name=${memberName(address)}`,
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl(address)}`,
      `--initial-advertise-peer-urls=${peerUrl(address)}`,
      `--initial-cluster=${members.map((member) => `${memberName(member)}=${peerUrl(member)}`).join(',')}`,
      '--initial-cluster-state=new',
      '--initial-cluster-token=ec',
      '--log-level=warn',
      '--logger=zap',
    ],
    env: () => ({}),
    async probe() {
      const [health, version] = await Promise.all([
        probeJson(`${clientUrl}/health`),
        probeJson(`${clientUrl}/version`),
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

function placementService(stateDir: string, cp: ControlPlaneConfig): ServiceSpec {
  const dir = join(stateDir, 'placement')
  const sqlite = cp.placement.database === 'sqlite'
  const database = placementDatabase(stateDir, cp)
  const url = `http://${urlHost(cp.host)}:${cp.placement.port}`
  // SQLite takes one writer at a time: one sync worker serializes requests,
  // where more would fail concurrent writes with "database is locked".
  const workers = sqlite ? 1 : cp.placement.workers
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
          `connection = ${await database.url()}`,
          // Several workers would race to migrate a server database: ec syncs it once, below.
          `sync_on_startup = ${sqlite ? 'True' : 'False'}`,
          '',
        ].join('\n'),
        {mode: 0o600},
      )
      // The private MariaDB syncs the schema when it starts; another database is synced here.
      if (!sqlite && cp.placement.database !== 'mariadb') await syncPlacementSchema(dir, cp.startTimeoutSeconds)
    },
    args: () => [
      `--bind=${urlHost(cp.host)}:${cp.placement.port}`,
      `--workers=${workers}`,
      '--worker-class=sync',
      '--threads=1',
      '--timeout=120',
      '--graceful-timeout=10',
      'placement.wsgi:init_application()',
    ],
    env: () => ({OS_PLACEMENT_CONFIG_DIR: dir, PYTHONDONTWRITEBYTECODE: '1'}),
    async probe() {
      const root = await probeJson(`${url}/`)
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
