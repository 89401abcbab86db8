import {Args, Flags} from '@oclif/core'

import {InstanceStore} from '../../instances/store.js'
import {type DeleteOutcome, deleteInstance, describeOutcome} from '../../scheduling/delete.js'
import {EcCommand} from '../../ec-command.js'
import {escapeControlCharacters} from '../../output/escape.js'

export default class InstanceDelete extends EcCommand<typeof InstanceDelete> {
  static override summary = 'Delete instances: make sure they do not exist. Deleting an absent one succeeds.'
  static override description = `Works in every state, mid-build included. Releases the allocations, has the host remove the guest and its disk, and leaves no key behind. If the host is down, the allocations are released and the keys removed now; the host removes the guest when it comes back.`
  static override examples = ['<%= config.bin %> instance delete web1 web2', '<%= config.bin %> instance delete 3f6c… --no-wait']
  static override strict = false
  static override enableJsonFlag = true
  static override args = {ref: Args.string({description: 'Instance ids or names.', required: true})}
  static override flags = {
    wait: Flags.boolean({allowNo: true, default: true, description: 'Wait for the host to finish tearing down.'}),
  }

  async run(): Promise<Array<{ref: string; outcome: DeleteOutcome}>> {
    // The parsed positionals, not this.argv: "--config f.yaml" is not a ref.
    const refs = this.positionals
    const config = await this.effectiveConfig()
    // Short-lived: etcd is reached over plain HTTP/2 (reads, writes and the watch), never through the gRPC client.
    const store = new InstanceStore(await this.backend(config, 'transport', {shortLived: true}))
    const scheduler = await this.backend(config, 'scheduler')
    const results = await Promise.all(
      refs.map(async (ref) => {
        const outcome = await deleteInstance(ref, {
          store,
          scheduler,
          timeoutSeconds: config.values.scheduling.deleteTimeoutSeconds,
          noWait: !this.flags.wait,
        })
        this.log(describeOutcome(outcome, escapeControlCharacters(ref)))
        return {ref, outcome}
      }),
    )
    return results
  }
}
