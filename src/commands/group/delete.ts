import {Args} from '@oclif/core'

import {EcCommand} from '../../ec-command.js'
import {validateGroupName} from '../../groups/model.js'
import {GroupStore} from '../../groups/store.js'
import {InstanceStore} from '../../instances/store.js'

export default class GroupDelete extends EcCommand<typeof GroupDelete> {
  static override summary = 'Delete a server group; refused (exit 5) while any of its members exists.'
  static override description = 'Delete its instances first. A group that does not exist is not an error (nothing to delete).'
  static override examples = ['<%= config.bin %> group delete web']
  static override enableJsonFlag = true
  static override args = {name: Args.string({description: 'Group name.', required: true})}

  async run(): Promise<{name: string; outcome: 'deleted' | 'absent'}> {
    validateGroupName(this.args.name)
    const config = await this.effectiveConfig()
    const groups = new GroupStore(new InstanceStore(await this.backend(config, 'transport')))
    const deleted = await groups.delete(this.args.name)
    this.log(deleted ? `${this.args.name}: deleted` : `${this.args.name}: not found (nothing to delete)`)
    return {name: this.args.name, outcome: deleted ? 'deleted' : 'absent'}
  }
}
