import {controlPlaneFrom, stateDirFlag, stateDirOverride} from '../control-plane/from-config.js'
import type {UpResult} from '../control-plane/control-plane.js'
import {EcCommand} from '../ec-command.js'
import {renderTable} from '../output/table.js'

export default class Up extends EcCommand<typeof Up> {
  static override summary = 'Start a one-machine control plane: etcd and Placement on loopback.'
  static override description = `Starts real etcd and OpenStack Placement (SQLite, noauth2, one gunicorn sync worker) with their data, logs and pid files under the state directory, and returns once both answer. Running it again reports what is already running.`
  static override examples = ['<%= config.bin %> up', '<%= config.bin %> up --state-dir /var/lib/ec --json']
  static override enableJsonFlag = true
  static override flags = {
    'state-dir': stateDirFlag,
  }

  async run(): Promise<UpResult> {
    const config = await this.effectiveConfig(stateDirOverride(this.flags['state-dir']))
    const result = await controlPlaneFrom(config).up()
    for (const note of result.notes) this.logToStderr(`Note: ${note}`)
    this.log(
      renderTable(
        ['service', 'action', 'endpoint', 'version', 'pid'],
        result.services.map((s) => [s.name, s.action, s.endpoint, s.version, s.pid]),
      ),
    )
    this.log(`State directory: ${result.stateDir}`)
    return result
  }
}
