import {Args} from '@oclif/core'

import {EcCommand} from '../../ec-command.js'
import {describePolicy, validateGroupName} from '../../groups/model.js'
import {GroupStore} from '../../groups/store.js'
import {type GroupView, viewOf} from '../../groups/view.js'
import {InstanceStore} from '../../instances/store.js'
import {renderTable} from '../../output/table.js'

export default class GroupShow extends EcCommand<typeof GroupShow> {
  static override summary = 'Show a server group: its policy and its members with their state and host.'
  static override examples = ['<%= config.bin %> group show web', '<%= config.bin %> group show web --json']
  static override enableJsonFlag = true
  static override args = {name: Args.string({description: 'Group name.', required: true})}

  async run(): Promise<GroupView> {
    validateGroupName(this.args.name)
    const config = await this.effectiveConfig()
    const groups = new GroupStore(new InstanceStore(await this.backend(config, 'transport', {shortLived: true})))
    const {value: group} = await groups.require(this.args.name)
    const view = viewOf(group, await groups.memberRecords(group))
    this.log(`group ${view.name} (${view.id})`)
    this.log(`policy: ${describePolicy(view)}`)
    this.log(`created: ${view.createdAt}`)
    this.log(`members: ${view.members.length}${view.stale.length > 0 ? ` (and ${view.stale.length} whose instance is gone; ec audit --repair removes them)` : ''}`)
    if (view.members.length > 0) {
      this.log(renderTable(['name', 'id', 'state', 'host'], view.members.map((m) => [m.name, m.id, m.state, m.host.name])))
    }

    return view
  }
}
