import {controlPlaneFrom, stateDirFlag, stateDirOverride} from '../control-plane/from-config.js'
import type {ServiceStatus} from '../control-plane/control-plane.js'
import {EcCommand} from '../ec-command.js'
import {ExitCode} from '../errors.js'
import {renderTable} from '../output/table.js'

export interface StatusResult {
  stateDir: string
  healthy: boolean
  services: ServiceStatus[]
}

export default class Status extends EcCommand<typeof Status> {
  static override summary = 'Show the control plane\'s services: state, endpoint, health and version.'
  static override description = `Exits 0 when every service answers, ${ExitCode.unavailable} when one does not.`
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json']
  static override enableJsonFlag = true
  static override flags = {
    'state-dir': stateDirFlag,
  }

  async run(): Promise<StatusResult> {
    const config = await this.effectiveConfig(stateDirOverride(this.flags['state-dir']))
    const services = await controlPlaneFrom(config).status()
    const healthy = services.every((s) => s.healthy)
    this.log(
      renderTable(
        ['service', 'state', 'health', 'endpoint', 'version', 'pid'],
        services.map((s) => [s.name, s.state, s.healthy ? 'ok' : `down (${s.detail})`, s.endpoint, s.version, s.pid]),
      ),
    )
    if (!healthy) process.exitCode = ExitCode.unavailable
    return {stateDir: config.values.stateDir, healthy, services}
  }
}
