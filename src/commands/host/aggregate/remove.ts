import {Args} from '@oclif/core'

import {EcCommand} from '../../../ec-command.js'
import {EcError} from '../../../errors.js'

export default class HostAggregateRemove extends EcCommand<typeof HostAggregateRemove> {
  static override summary = 'Remove a host from an aggregate (a name or a uuid); shared storage in the aggregate serves its members.'
  static override examples = ['<%= config.bin %> host aggregate remove host-a rack1']
  static override enableJsonFlag = true
  static override args = {
    host: Args.string({description: 'Host name or id.', required: true}),
    aggregate: Args.string({description: 'Aggregate name or uuid.', required: true}),
  }

  async run(): Promise<{host: string; aggregates: string[]}> {
    const config = await this.effectiveConfig()
    const scheduler = await this.backend(config, 'scheduler')
    if (!scheduler.changeHostAggregates) throw new EcError('usage', `the scheduler backend "${config.values.backends.scheduler}" has no aggregates`)
    const aggregates = await scheduler.changeHostAggregates(this.args.host, {remove: [this.args.aggregate]})
    this.log(`${this.args.host}: ${aggregates.join(', ') || 'no aggregates'}`)
    return {host: this.args.host, aggregates}
  }
}
