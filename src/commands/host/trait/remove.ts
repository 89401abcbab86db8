import {Args} from '@oclif/core'

import {EcCommand} from '../../../ec-command.js'
import {EcError} from '../../../errors.js'

export default class HostTraitRemove extends EcCommand<typeof HostTraitRemove> {
  static override summary = 'Remove operator traits from a host (CUSTOM_* and other traits the agent does not report itself; they survive agent restarts).'
  static override examples = ['<%= config.bin %> host trait remove host-a CUSTOM_FAST_NVME']
  static override enableJsonFlag = true
  static override strict = false
  static override args = {
    host: Args.string({description: 'Host name or id.', required: true}),
    trait: Args.string({description: 'Trait names (one or more).', required: true}),
  }

  async run(): Promise<{host: string; traits: string[]}> {
    const config = await this.effectiveConfig()
    const scheduler = await this.backend(config, 'scheduler')
    if (!scheduler.changeHostTraits) throw new EcError('usage', `the scheduler backend "${config.values.backends.scheduler}" cannot change traits`)
    // The parsed positionals after the host, not this.argv: "--config f.yaml" is not a trait.
    const traits = this.positionals.slice(1)
    const result = await scheduler.changeHostTraits(this.args.host, {remove: traits})
    this.log(`${this.args.host}: ${result.join(', ')}`)
    return {host: this.args.host, traits: result}
  }
}
