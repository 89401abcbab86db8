import {Flags} from '@oclif/core'

import {controlPlaneFrom, stateDirFlag, stateDirOverride} from '../control-plane/from-config.js'
import type {DownResult} from '../control-plane/control-plane.js'
import {EcCommand} from '../ec-command.js'
import {renderTable} from '../output/table.js'

export default class Down extends EcCommand<typeof Down> {
  static override summary = 'Stop the one-machine control plane started by ec up.'
  static override examples = ['<%= config.bin %> down', '<%= config.bin %> down --purge']
  static override enableJsonFlag = true
  static override flags = {
    'state-dir': stateDirFlag,
    purge: Flags.boolean({description: 'Also delete the services\' data, configuration and logs.'}),
  }

  async run(): Promise<DownResult> {
    const config = await this.effectiveConfig(stateDirOverride(this.flags['state-dir']))
    const result = await controlPlaneFrom(config).down({purge: this.flags.purge})
    this.log(
      renderTable(
        ['service', 'action', 'data'],
        result.services.map((s) => [s.name, s.action, s.purged ? 'deleted' : 'kept']),
      ),
    )
    return result
  }
}
