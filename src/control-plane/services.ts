// The two services of the one-machine control plane, as data: how to start
// each, where its files live, and how to tell that it answers.
import {accessSync, constants} from 'node:fs'
import {mkdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import type {ControlPlaneConfig} from '../config/defaults.js'
import {probeJson} from './probe.js'

export interface PortUse {
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
  name: 'etcd' | 'placement'
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
  args(): string[]
  env(): Record<string, string>
  probe(): Promise<Health>
}

export function controlPlaneServices(stateDir: string, cp: ControlPlaneConfig): ServiceSpec[] {
  return [etcdService(stateDir, cp), placementService(stateDir, cp)]
}

function etcdService(stateDir: string, cp: ControlPlaneConfig): ServiceSpec {
  const dir = join(stateDir, 'etcd')
  const dataDir = join(dir, 'data')
  const clientUrl = `http://${cp.host}:${cp.etcd.clientPort}`
  const peerUrl = `http://${cp.host}:${cp.etcd.peerPort}`
  return {
    name: 'etcd',
    command: 'etcd',
    processName: 'etcd',
    debianPackage: 'etcd-server',
    requiredFiles: [],
    endpoint: clientUrl,
    ports: [
      {port: cp.etcd.clientPort, purpose: 'etcd client', configKey: 'controlPlane.etcd.clientPort'},
      {port: cp.etcd.peerPort, purpose: 'etcd peer', configKey: 'controlPlane.etcd.peerPort'},
    ],
    dir,
    dataPaths: [dataDir],
    logFile: join(dir, 'etcd.log'),
    pidFile: join(dir, 'etcd.pid'),
    async prepare() {
      await mkdir(dataDir, {recursive: true, mode: 0o700})
    },
    args: () => [
      '--name=ec',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=ec=${peerUrl}`,
      '--initial-cluster-state=new',
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
  const database = join(dir, 'placement.sqlite')
  const url = `http://${cp.host}:${cp.placement.port}`
  return {
    name: 'placement',
    command: DEBIAN_GUNICORN,
    processName: 'gunicorn',
    debianPackage: 'gunicorn',
    requiredFiles: [{path: PLACEMENT_WSGI, debianPackage: 'python3-placement'}],
    endpoint: url,
    ports: [{port: cp.placement.port, purpose: 'Placement API', configKey: 'controlPlane.placement.port'}],
    dir,
    dataPaths: [database, join(dir, 'placement.conf')],
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
          `connection = sqlite:///${database}`,
          'sync_on_startup = True',
          '',
        ].join('\n'),
      )
    },
    // SQLite takes one writer at a time: one sync worker serializes requests,
    // where threads would fail concurrent writes with "database is locked".
    args: () => [
      `--bind=${cp.host}:${cp.placement.port}`,
      '--workers=1',
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
