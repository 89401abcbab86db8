// Placement's database when it outgrows SQLite: a private MariaDB (Debian's
// mariadbd with its own datadir, socket and port under the state directory,
// never the system instance), or any SQLAlchemy URL the operator gives.
import {execFile} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'
import {mkdir, readFile, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {promisify} from 'node:util'

import {urlHost, type ControlPlaneConfig} from '../config/defaults.js'
import {EcError} from '../errors.js'
import type {ServiceSpec} from './services.js'

const run = promisify(execFile)

const MARIADBD = '/usr/sbin/mariadbd'
const INSTALL_DB = '/usr/bin/mariadb-install-db'
const CLIENT = '/usr/bin/mariadb'
const PLACEMENT_MANAGE = '/usr/bin/placement-manage'
/**
 * Placement talks to MariaDB through mysqlclient (MySQLdb, C), not PyMySQL
 * (pure Python): at 200 hosts Placement spent 87 ms of CPU per claim instead
 * of 203 ms and answered twice the round-trips per second (bench/schedule).
 */
const MYSQL_DRIVER = '/usr/lib/python3/dist-packages/MySQLdb/__init__.py'
/** sun_path is 108 bytes with its terminating NUL. */
const MAX_SOCKET_PATH = 107

export interface PlacementDatabase {
  /** The SQLAlchemy URL Placement connects with. */
  url(): Promise<string>
  /** Files under the state directory that hold the data (SQLite only). */
  files: string[]
}

export function placementDatabase(stateDir: string, cp: ControlPlaneConfig): PlacementDatabase {
  const {database} = cp.placement
  if (database === 'sqlite') {
    const file = join(stateDir, 'placement', 'placement.sqlite')
    return {url: async () => `sqlite:///${file}`, files: [file]}
  }

  if (database === 'mariadb') {
    const {passwordFile} = mariadbPaths(stateDir)
    return {
      async url() {
        if (!existsSync(MYSQL_DRIVER)) {
          throw new EcError('missingDependency', `Placement's MariaDB driver is missing (${MYSQL_DRIVER}); install Debian's python3-mysqldb package`)
        }

        const password = (await readFile(passwordFile, 'utf8')).trim()
        return `mysql+mysqldb://placement:${password}@${urlHost(cp.host)}:${cp.mariadb.port}/placement?charset=utf8mb4`
      },
      files: [],
    }
  }

  return {url: async () => database, files: []}
}

/**
 * What Placement's placement.conf adds to a MySQL or MariaDB URL (nothing to another).
 * Placement retries a claim that lost a provider-generation race inside the same
 * transaction; at MySQL's default REPEATABLE READ the retry checks capacity against
 * that transaction's first snapshot, misses what the winner just committed, and admits
 * allocations beyond capacity (12 of 10 in test/integration/placement-mariadb.test.ts).
 * At READ COMMITTED every check reads what is committed; the generation guard stays.
 */
export function connectionParameters(url: string): string | undefined {
  return isMysql(url) ? 'init_command=SET+SESSION+TRANSACTION+ISOLATION+LEVEL+READ+COMMITTED' : undefined
}

/** An operator's URL with its own init_command would have ec's appended as a second value, which the driver does not take. */
export function checkDatabaseUrl(database: string): void {
  if (!isMysql(database) || !/[?&]init_command=/i.test(database)) return
  throw new EcError(
    'usage',
    `controlPlane.placement.database sets init_command, which ec needs for READ COMMITTED (Placement over-commits at MySQL's REPEATABLE READ); remove init_command from the URL`,
  )
}

function isMysql(url: string): boolean {
  return /^mysql[+:]/.test(url)
}

/**
 * Create or upgrade Placement's tables (idempotent), as `placement-manage db sync`.
 * Tried again until the deadline: another controller's database may still be starting.
 */
export async function syncPlacementSchema(configDir: string, timeoutSeconds: number): Promise<void> {
  if (!existsSync(PLACEMENT_MANAGE)) {
    throw new EcError('missingDependency', `${PLACEMENT_MANAGE} is missing; install Debian's python3-placement package`)
  }

  const deadline = Date.now() + timeoutSeconds * 1000
  for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
    try {
      await run(PLACEMENT_MANAGE, ['--config-dir', configDir, 'db', 'sync'], {
        env: {...process.env, OS_PLACEMENT_CONFIG_DIR: configDir, PYTHONDONTWRITEBYTECODE: '1'},
        timeout: timeoutSeconds * 1000,
      })
      return
    } catch (error) {
      if (Date.now() + delay > deadline) {
        throw new EcError(
          'serviceFailed',
          `placement-manage db sync could not create Placement's tables (${lastErrorLine(error)}); check controlPlane.placement.database and that the database answers`,
          {cause: error},
        )
      }

      await sleep(delay)
    }
  }
}

/** The line of a Python failure that names the error (SQLAlchemy's "(MySQLdb.OperationalError) …"). */
function lastErrorLine(error: unknown): string {
  const lines = `${(error as {stderr?: string}).stderr ?? ''}`.split('\n').map((line) => line.trim()).filter(Boolean)
  return [...lines].reverse().find((line) => /Error/.test(line) && !line.startsWith('File ')) ?? lines.at(-1) ?? (error as Error).message
}

function mariadbPaths(stateDir: string) {
  const dir = join(stateDir, 'mariadb')
  return {
    dir,
    dataDir: join(dir, 'data'),
    socket: join(dir, 'mariadb.sock'),
    passwordFile: join(dir, 'placement.password'),
  }
}

export function mariadbService(stateDir: string, cp: ControlPlaneConfig): ServiceSpec {
  const {dir, dataDir, socket, passwordFile} = mariadbPaths(stateDir)
  const runningAsRoot = process.getuid?.() === 0
  const sql = (statements: string) =>
    run(CLIENT, ['--no-defaults', `--socket=${socket}`, '--user=root', '--batch', '--skip-column-names', '-e', statements], {
      timeout: 10_000,
    })

  return {
    name: 'mariadb',
    command: MARIADBD,
    processName: 'mariadbd',
    debianPackage: 'mariadb-server',
    requiredFiles: [
      {path: INSTALL_DB, debianPackage: 'mariadb-server'},
      {path: CLIENT, debianPackage: 'mariadb-client'},
    ],
    endpoint: `mysql://${urlHost(cp.host)}:${cp.mariadb.port}`,
    ports: [{host: cp.host, port: cp.mariadb.port, purpose: 'MariaDB for Placement', configKey: 'controlPlane.mariadb.port'}],
    dir,
    dataPaths: [dataDir, passwordFile],
    logFile: join(dir, 'mariadb.log'),
    pidFile: join(dir, 'mariadb.pid'),
    async prepare() {
      if (socket.length > MAX_SOCKET_PATH) {
        throw new EcError('environment', `MariaDB's socket ${socket} is longer than ${MAX_SOCKET_PATH} bytes; choose a shorter --state-dir`)
      }

      await mkdir(dir, {recursive: true, mode: 0o700})
      if (!existsSync(passwordFile)) await writeFile(passwordFile, `${randomBytes(18).toString('base64url')}\n`, {mode: 0o600})
      if (existsSync(join(dataDir, 'mysql'))) return
      // A fresh datadir: root may log in over the socket only (the socket lives in a 0700 directory).
      try {
        await run(
          INSTALL_DB,
          [
            '--no-defaults',
            `--datadir=${dataDir}`,
            '--auth-root-authentication-method=normal',
            '--skip-test-db',
            ...(runningAsRoot ? ['--user=root'] : []),
          ],
          {timeout: cp.startTimeoutSeconds * 1000},
        )
      } catch (error) {
        await rm(dataDir, {recursive: true, force: true}) // no half-initialised datadir left behind
        throw new EcError('serviceFailed', `mariadb-install-db could not initialise ${dataDir}: ${(error as Error).message}`, {cause: error})
      }
    },
    // The schema is made here, before this controller's etcd starts, so that the
    // other controllers' Placements (which wait for etcd's quorum) only ever find it done:
    // two first migrations at once would trip over each other's tables.
    async afterStart() {
      const password = (await readFile(passwordFile, 'utf8')).trim()
      await sql(
        [
          'CREATE DATABASE IF NOT EXISTS placement CHARACTER SET utf8mb4',
          `CREATE USER IF NOT EXISTS 'placement'@'%' IDENTIFIED BY '${password}'`,
          "GRANT ALL PRIVILEGES ON placement.* TO 'placement'@'%'",
        ].join('; '),
      )
      const syncDir = join(dir, 'schema-sync')
      await mkdir(syncDir, {recursive: true, mode: 0o700})
      const url = await placementDatabase(stateDir, cp).url()
      await writeFile(join(syncDir, 'placement.conf'), `[placement_database]\nconnection = ${url}\n`, {mode: 0o600})
      await syncPlacementSchema(syncDir, cp.startTimeoutSeconds)
    },
    args: () => [
      '--no-defaults',
      `--datadir=${dataDir}`,
      `--socket=${socket}`,
      `--bind-address=${cp.host}`,
      `--port=${cp.mariadb.port}`,
      `--pid-file=${join(dir, 'mariadbd.pid')}`,
      ...(runningAsRoot ? ['--user=root'] : []),
      '--skip-name-resolve',
      // Every gunicorn worker of every controller holds a pool of connections.
      '--max-connections=1000',
      '--innodb-buffer-pool-size=128M',
      '--character-set-server=utf8mb4',
    ],
    env: () => ({}),
    async probe() {
      try {
        const {stdout} = await sql('SELECT VERSION()')
        return {healthy: true, version: stdout.trim()}
      } catch (error) {
        const detail = `${(error as {stderr?: string}).stderr ?? (error as Error).message}`.trim().split('\n')[0]
        return {healthy: false, detail}
      }
    },
  }
}
