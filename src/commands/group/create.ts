import {Args, Flags} from '@oclif/core'

import {EcCommand} from '../../ec-command.js'
import {EcError} from '../../errors.js'
import {describePolicy, GROUP_POLICIES, type GroupRecord, validateGroupName} from '../../groups/model.js'
import {GroupStore} from '../../groups/store.js'
import {InstanceStore} from '../../instances/store.js'

export default class GroupCreate extends EcCommand<typeof GroupCreate> {
  static override summary = 'Create a server group: instances created with --group NAME share one host (affinity) or stay apart (anti-affinity).'
  static override description = `A hard policy (the default) is never broken, even by concurrent creates: a create that finds no host the policy allows fails with exit 7, naming the group. --soft only prefers: candidates are ordered by the policy and a create never fails because of it. --max-per-host N (anti-affinity) lets up to N members share a host (default 1).`
  static override examples = [
    '<%= config.bin %> group create web --policy anti-affinity',
    '<%= config.bin %> group create db --policy anti-affinity --max-per-host 2',
    '<%= config.bin %> group create batch --policy affinity --soft',
  ]
  static override enableJsonFlag = true
  static override args = {name: Args.string({description: 'Group name: 1-63 lower-case letters, digits and dashes.', required: true})}
  static override flags = {
    policy: Flags.option({options: GROUP_POLICIES, required: true, description: 'affinity: all members on one host (the first member decides); anti-affinity: members on different hosts.'})(),
    'max-per-host': Flags.integer({description: 'anti-affinity: at most this many members on one host (default 1).'}),
    soft: Flags.boolean({description: 'Prefer the policy (order candidates by it) but never fail because of it.'}),
  }

  async run(): Promise<GroupRecord> {
    const name = validateGroupName(this.args.name)
    const maxPerHost = this.flags['max-per-host']
    if (maxPerHost !== undefined) {
      if (this.flags.policy !== 'anti-affinity') throw new EcError('usage', '--max-per-host applies to --policy anti-affinity only (see ec group create --help)')
      if (maxPerHost < 1 || maxPerHost > 1_000_000) throw new EcError('usage', `--max-per-host must be a whole number from 1 to 1000000, got ${maxPerHost} (see ec group create --help)`)
    }

    const config = await this.effectiveConfig()
    const groups = new GroupStore(new InstanceStore(await this.backend(config, 'transport')))
    const group = await groups.create({
      name,
      policy: this.flags.policy,
      soft: this.flags.soft ?? false,
      maxPerHost: this.flags.policy === 'anti-affinity' ? (maxPerHost ?? 1) : undefined,
    })
    this.log(`group ${group.name} created (${describePolicy(group)})`)
    return group
  }
}
