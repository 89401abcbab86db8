import {Args} from '@oclif/core'

import {EcError} from '../../errors.js'
import type {InstanceRecord} from '../../instances/model.js'
import {InstanceStore} from '../../instances/store.js'
import {describeInstance} from '../../output/instance-view.js'
import {EcCommand} from '../../ec-command.js'

export default class InstanceShow extends EcCommand<typeof InstanceShow> {
  static override summary = 'Show one instance: state, step, host, resources, allocations, image, timestamps, error.'
  static override examples = ['<%= config.bin %> instance show web1', '<%= config.bin %> instance show 3f6c… --json']
  static override enableJsonFlag = true
  static override args = {ref: Args.string({description: 'Instance id or name.', required: true})}

  async run(): Promise<InstanceRecord> {
    const config = await this.effectiveConfig()
    const store = new InstanceStore(await this.backend(config, 'transport', {shortLived: true}))
    const found = await store.find(this.args.ref)
    if (!found) throw new EcError('notFound', `no instance "${this.args.ref}"; list them with "ec instance list"`)
    this.log(describeInstance(found.value))
    return found.value
  }
}
