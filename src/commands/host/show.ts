import {Args} from '@oclif/core'

import {EcCommand} from '../../ec-command.js'
import {EcError} from '../../errors.js'
import {describeHostDetail} from '../../output/host-view.js'
import type {HostDetail} from '@ec/plugin-api'

export default class HostShow extends EcCommand<typeof HostShow> {
  static override summary = "Show a host's providers (the host, its NUMA nodes) with inventory, usage, traits and aggregates, and the shared storage it reaches."
  static override examples = ['<%= config.bin %> host show host-a', '<%= config.bin %> host show host-a --json']
  static override enableJsonFlag = true
  static override args = {host: Args.string({description: 'Host name or id.', required: true})}

  async run(): Promise<HostDetail> {
    const config = await this.effectiveConfig()
    const scheduler = await this.backend(config, 'scheduler')
    if (!scheduler.describeHost) throw new EcError('usage', `the scheduler backend "${config.values.backends.scheduler}" cannot describe hosts`)
    const host = await scheduler.describeHost(this.args.host)
    this.log(describeHostDetail(host))
    return host
  }
}
