// `ec host trait add|remove` and `ec host aggregate add|remove`: each pair
// differs only in the direction of the change, so each shares one base.
import {Args} from '@oclif/core'

import {EcCommand} from '../ec-command.js'
import {EcError} from '../errors.js'

type Direction = 'add' | 'remove'

export abstract class HostTraitChange extends EcCommand<typeof HostTraitChange> {
  static override enableJsonFlag = true
  static override strict = false
  static override args = {
    host: Args.string({description: 'Host name or id.', required: true}),
    trait: Args.string({description: 'Trait names (one or more).', required: true}),
  }

  protected abstract readonly direction: Direction

  async run(): Promise<{host: string; traits: string[]}> {
    const config = await this.effectiveConfig()
    const scheduler = await this.backend(config, 'scheduler')
    if (!scheduler.changeHostTraits) throw new EcError('usage', `the scheduler backend "${config.values.backends.scheduler}" cannot change traits`)
    // The parsed positionals after the host, not this.argv: "--config f.yaml" is not a trait.
    const traits = this.positionals.slice(1)
    const result = await scheduler.changeHostTraits(this.args.host, {[this.direction]: traits})
    this.log(`${this.args.host}: ${result.join(', ')}`)
    return {host: this.args.host, traits: result}
  }
}

export abstract class HostAggregateChange extends EcCommand<typeof HostAggregateChange> {
  static override enableJsonFlag = true
  static override args = {
    host: Args.string({description: 'Host name or id.', required: true}),
    aggregate: Args.string({description: 'Aggregate name or uuid.', required: true}),
  }

  protected abstract readonly direction: Direction

  async run(): Promise<{host: string; aggregates: string[]}> {
    const config = await this.effectiveConfig()
    const scheduler = await this.backend(config, 'scheduler')
    if (!scheduler.changeHostAggregates) throw new EcError('usage', `the scheduler backend "${config.values.backends.scheduler}" has no aggregates`)
    const aggregates = await scheduler.changeHostAggregates(this.args.host, {[this.direction]: [this.args.aggregate]})
    this.log(`${this.args.host}: ${aggregates.join(', ') || 'no aggregates'}`)
    return {host: this.args.host, aggregates}
  }
}
