// `ec up`, `ec down` and `ec status`: a one-machine control plane of real
// etcd and real Placement on loopback, each with its data, log and pid file
// under the state directory. `up` returns only once both answer, and leaves
// nothing running that it started if it fails.
import {existsSync} from 'node:fs'
import {mkdir, rm, unlink, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import type {ControlPlaneConfig} from '../config/defaults.js'
import {EcError} from '../errors.js'
import {isPortFree} from './ports.js'
import {isRunning, readPidFile, removeFile, startDaemon, stopProcess, tailOfFile} from './processes.js'
import {withStateLock} from './state-lock.js'
import {controlPlaneServices, findExecutable, type ServiceSpec} from './services.js'

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
      try {
        for (const service of this.services) {
          const pidState = readPidFile(service.pidFile, service.processName)
          if (pidState.kind === 'running') {
            await this.waitHealthy(service, pidState.pid)
            results.push({...(await this.statusOf(service)), action: 'already running'})
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
          await this.waitHealthy(service, pid)
          results.push({...(await this.statusOf(service)), action: 'started'})
        }
      } catch (error) {
        // Leave nothing half-started: stop what this run started, newest first.
        for (const {service, pid} of started.reverse()) {
          await stopProcess(pid, 5000)
          removeFile(service.pidFile)
        }

        throw error
      }

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

      return {stateDir: this.stateDir, services: results.reverse()}
    })
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
    const seen = new Map<number, string>()
    for (const {port, configKey} of this.services.flatMap((s) => s.ports)) {
      const other = seen.get(port)
      if (other) throw new EcError('config', `${configKey} and ${other} are both ${port}; give each service its own port`)
      seen.set(port, configKey)
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

    for (const {port, purpose, configKey} of service.ports) {
      if (!(await isPortFree(this.config.host, port))) {
        throw new EcError(
          'environment',
          `port ${port} on ${this.config.host} (${purpose}) is already in use; stop what holds it or set ${configKey} to a free port`,
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
