import {Flags} from '@oclif/core'

import {INSTANCE_STATES, type InstanceRecord} from '../../instances/model.js'
import {InstanceStore} from '../../instances/store.js'
import {INSTANCE_LISTING, selectInstances} from '../../output/instance-view.js'
import {listingFlags, planListing} from '../../output/listing.js'
import {EcCommand} from '../../ec-command.js'

// Most runs never come here: bin/run.js serves them through
// src/startup/instance-list.ts without loading oclif. Keep the two in step.
export default class InstanceList extends EcCommand<typeof InstanceList> {
  static override summary = 'List instances, optionally only those on one host or in one state.'
  static override examples = [
    '<%= config.bin %> instance list',
    '<%= config.bin %> instance list --state ERROR --json',
    '<%= config.bin %> instance list --columns name,state,host --sort host,-created',
    '<%= config.bin %> instance delete $(<%= config.bin %> instance list --state ERROR -q)',
  ]
  static override enableJsonFlag = true
  static override flags = {
    host: Flags.string({description: 'Only instances on this host (name or id).'}),
    state: Flags.option({options: INSTANCE_STATES, description: 'Only instances in this state.'})(),
    ...listingFlags,
  }

  async run(): Promise<InstanceRecord[]> {
    const plan = planListing(INSTANCE_LISTING, this.flags)
    const config = await this.effectiveConfig()
    const store = new InstanceStore(await this.backend(config, 'transport', {shortLived: true}))
    const records = (await store.list()).records.map((r) => r.value)
    return this.printListing(selectInstances(records, this.flags), plan)
  }
}
