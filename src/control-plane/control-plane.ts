// `ec up`, `ec down` and `ec status`: this controller's share of the control
// plane — its etcd member(s), Placement and, when asked, a private MariaDB —
// each with its data, log and pid file under the state directory. `up` returns only once both answer, and leaves
// nothing running that it started if it fails.
import {existsSync} from 'node:fs'
import {mkdir, rm, unlink, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {controlPlaneAddress, type ControlPlaneConfig, localCredentialsFile} from '../config/defaults.js'
import {EcError} from '../errors.js'
import {isLoopback, prepareClusterTls} from './cluster-tls.js'
import {checkDatabaseUrl} from './mariadb.js'
import {isPortFree} from './ports.js'
import {isRunning, readPidFile, removeFile, startDaemon, stopProcess, tailOfFile} from './processes.js'
import {withStateLock} from './state-lock.js'
import {controlPlaneServices, controlPlaneTls, findExecutable, type ServiceSpec} from './services.js'

export interface ServiceStatus {
  name: string
  state: 'running' | 'stopped' | 'stale'
  pid?: number
  endpoint: string
  healthy: boolean
  version?: string
  detail?: string
  logFile: string
}

export interface UpResult {
  stateDir: string
  services: Array<ServiceStatus & {action: 'started' | 'already running'}>
  notes: string[]
}

export interface DownResult {
  stateDir: string
  services: Array<{name: string; action: 'stopped' | 'killed' | 'not running' | 'removed stale pid file'; purged: boolean}>
}

export class ControlPlane {
  readonly services: ServiceSpec[]

  constructor(
    readonly stateDir: string,
    private readonly config: ControlPlaneConfig,
  ) {
    this.services = controlPlaneServices(stateDir, config)
  }

  async status(): Promise<ServiceStatus[]> {
    return Promise.all(this.services.map((service) => this.statusOf(service)))
  }

  async up(): Promise<UpResult> {
    this.checkPlainHttp()
    checkDatabaseUrl(this.config.placement.database)
    this.checkDistinctPorts()
    // Refuse before writing anything: a missing binary or a busy port leaves no trace.
    for (const service of this.services) {
      if (readPidFile(service.pidFile, service.processName).kind !== 'running') await this.checkStartable(service)
    }

    await ensureWritable(this.stateDir)
    return withStateLock(this.lock(), async () => {
      const notes: string[] = []
      const results: UpResult['services'] = []
      const started: Array<{service: ServiceSpec; pid: number}> = []
      // The CA and the local admin's bundle come first: probes present its certificate.
      if (this.config.tls) await prepareClusterTls(controlPlaneTls(this.stateDir), this.endpoints(), this.localSockets())
      else removeFile(localCredentialsFile(this.stateDir))
      try {
        // Members of one etcd cluster start together: none answers before a quorum runs.
        for (const group of startGroups(this.services)) {
          const pending: Array<{service: ServiceSpec; pid: number; action: 'started' | 'already running'}> = []
          for (const service of group) {
            const pidState = readPidFile(service.pidFile, service.processName)
            if (pidState.kind === 'running') {
              pending.push({service, pid: pidState.pid, action: 'already running'})
              continue
            }

            if (pidState.kind === 'stale') {
              removeFile(service.pidFile)
              notes.push(`removed stale pid file ${service.pidFile} (pid ${pidState.pid ?? '?'} is not running)`)
            }

            await service.prepare()
            const pid = startDaemon({
              command: service.command,
              args: service.args(),
              env: service.env(),
              cwd: service.dir,
              logFile: service.logFile,
              pidFile: service.pidFile,
            })
            started.push({service, pid})
            pending.push({service, pid, action: 'started'})
          }

          for (const {service, pid, action} of pending) {
            await this.waitHealthy(service, pid)
            if (action === 'started') await service.afterStart?.()
            results.push({...(await this.statusOf(service)), action})
          }
        }
      } catch (error) {
        // Leave nothing half-started: stop what this run started, newest first.
        for (const {service, pid} of started.reverse()) {
          await stopProcess(pid, 5000)
          removeFile(service.pidFile)
        }

        throw error
      }

      await writeFile(join(this.stateDir, 'control-plane.json'), `${JSON.stringify(this.config, null, 2)}\n`)
      return {stateDir: this.stateDir, services: results, notes}
    })
  }

  async down(options: {purge: boolean}): Promise<DownResult> {
    // Nothing was ever started here: report that without creating the directory.
    if (!existsSync(this.stateDir)) {
      return {stateDir: this.stateDir, services: this.services.map((s) => ({name: s.name, action: 'not running', purged: false}))}
    }

    return withStateLock(this.lock(), async () => {
      const results: DownResult['services'] = []
      for (const service of [...this.services].reverse()) {
        const pidState = readPidFile(service.pidFile, service.processName)
        let action: DownResult['services'][number]['action'] = 'not running'
        if (pidState.kind === 'running') action = await stopProcess(pidState.pid)
        else if (pidState.kind === 'stale') action = 'removed stale pid file'
        removeFile(service.pidFile)
        if (options.purge) await rm(service.dir, {recursive: true, force: true})
        results.push({name: service.name, action, purged: options.purge})
      }

      if (options.purge) removeFile(join(this.stateDir, 'control-plane.json'))
      if (options.purge) {
        await rm(controlPlaneTls(this.stateDir).authority.dir, {recursive: true, force: true})
        removeFile(localCredentialsFile(this.stateDir))
      }

      return {stateDir: this.stateDir, services: results.reverse()}
    })
  }

  /** The unix socket of each service here that has one, by its endpoint. */
  private localSockets(): Record<string, string> {
    return Object.fromEntries(this.services.flatMap((service) => (service.localSocket ? [[service.endpoint, service.localSocket]] : [])))
  }

  /** Where clients reach etcd and Placement (every member, every controller), as a credentials bundle names them. */
  endpoints(): {etcd: string[]; placement: string[]} {
    const {etcdEndpoints, placementUrls} = controlPlaneAddress(this.config)
    const scheme = (url: string) => (this.config.tls ? url.replace(/^http:/, 'https:') : url)
    return {etcd: etcdEndpoints.map(scheme), placement: placementUrls.map(scheme)}
  }

  private checkPlainHttp(): void {
    if (this.config.tls || this.config.insecure || isLoopback(this.config.host)) return
    throw new EcError(
      'usage',
      `plain HTTP on ${this.config.host} would let anyone who reaches it read and change every instance; drop --no-tls (mutual TLS is the default) or add --insecure if this network is trusted`,
    )
  }

  private lock() {
    return {dir: this.stateDir, name: 'control-plane.lock', holder: 'another ec up or ec down'}
  }

  private async statusOf(service: ServiceSpec): Promise<ServiceStatus> {
    const pidState = readPidFile(service.pidFile, service.processName)
    const health = await service.probe()
    const state = pidState.kind === 'running' ? 'running' : pidState.kind === 'stale' ? 'stale' : 'stopped'
    return {
      name: service.name,
      state,
      pid: pidState.kind === 'running' ? pidState.pid : undefined,
      endpoint: service.endpoint,
      healthy: health.healthy,
      version: health.version,
      detail: health.detail,
      logFile: service.logFile,
    }
  }

  private checkDistinctPorts(): void {
    const seen = new Map<string, string>()
    for (const {host, port, configKey} of this.services.flatMap((s) => s.ports)) {
      const other = seen.get(`${host}:${port}`)
      if (other) throw new EcError('config', `${configKey} and ${other} are both ${port}; give each service its own port`)
      seen.set(`${host}:${port}`, configKey)
    }
  }

  private async checkStartable(service: ServiceSpec): Promise<void> {
    if (!findExecutable(service.command)) {
      throw new EcError(
        'missingDependency',
        `${service.command} is not installed; install Debian's ${service.debianPackage} package (scripts/install-system-deps.sh installs everything ec needs)`,
      )
    }

    for (const {path, debianPackage} of service.requiredFiles) {
      if (!existsSync(path)) {
        throw new EcError(
          'missingDependency',
          `${service.name} needs ${path}, which is missing; install Debian's ${debianPackage} package`,
        )
      }
    }

    for (const {host, port, purpose, configKey} of service.ports) {
      if (!(await isPortFree(host, port))) {
        throw new EcError(
          'environment',
          `port ${port} on ${host} (${purpose}) is already in use; stop what holds it or set ${configKey} to a free port`,
        )
      }
    }
  }

  private async waitHealthy(service: ServiceSpec, pid: number): Promise<void> {
    const deadline = Date.now() + this.config.startTimeoutSeconds * 1000
    for (;;) {
      if ((await service.probe()).healthy) return
      if (!isRunning(pid)) {
        throw new EcError('serviceFailed', `${service.name} exited during start-up; its log is ${service.logFile}`, {
          details: indent(tailOfFile(service.logFile)),
        })
      }

      if (Date.now() > deadline) {
        throw new EcError(
          'serviceFailed',
          `${service.name} (pid ${pid}) did not answer at ${service.endpoint} within ${this.config.startTimeoutSeconds} s; its log is ${service.logFile}`,
          {details: indent(tailOfFile(service.logFile))},
        )
      }

      await sleep(100)
    }
  }
}

/** Consecutive services of the same start group (etcd members) together; the others alone. */
function startGroups(services: ServiceSpec[]): ServiceSpec[][] {
  const groups: ServiceSpec[][] = []
  for (const service of services) {
    const last = groups.at(-1)
    if (last && service.startGroup && last[0].startGroup === service.startGroup) last.push(service)
    else groups.push([service])
  }

  return groups
}

async function ensureWritable(dir: string): Promise<void> {
  const probe = join(dir, `.write-test-${process.pid}`)
  try {
    await mkdir(dir, {recursive: true})
    await writeFile(probe, '')
    await unlink(probe)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error)
    throw new EcError(
      'environment',
      `state directory ${dir} is not writable (${code}); choose another with --state-dir or fix its permissions`,
      {cause: error},
    )
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n')
}
