import {Flags} from '@oclif/core'

import {INSTANCE_STATES, type InstanceRecord} from '../../instances/model.js'
import {InstanceStore} from '../../instances/store.js'
import {displayState} from '../../output/instance-view.js'
import {renderTable} from '../../output/table.js'
import {EcCommand} from '../../ec-command.js'

export default class InstanceList extends EcCommand<typeof InstanceList> {
  static override summary = 'List instances, optionally only those on one host or in one state.'
  static override examples = ['<%= config.bin %> instance list', '<%= config.bin %> instance list --state ERROR --json']
  static override enableJsonFlag = true
  static override flags = {
    host: Flags.string({description: 'Only instances on this host (name or id).'}),
    state: Flags.option({options: INSTANCE_STATES, description: 'Only instances in this state.'})(),
  }

  async run(): Promise<InstanceRecord[]> {
    const config = await this.effectiveConfig()
    const store = new InstanceStore(await this.backend(config, 'transport'))
    const {host, state} = this.flags
    const records = (await store.list()).records
      .map((r) => r.value)
      .filter((r) => !host || r.host?.name === host || r.host?.id === host)
      .filter((r) => !state || r.state === state)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
    this.log(
      renderTable(
        ['name', 'id', 'state', 'host', 'vcpus', 'memory', 'disk', 'address', 'created'],
        records.map((r) => [r.name, r.id, displayState(r), r.host?.name, r.spec.vcpus, `${r.spec.memoryMb}M`, `${r.spec.diskGb}G`, r.address, r.createdAt]),
      ),
    )
    return records
  }
}
