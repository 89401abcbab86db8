import {Args} from '@oclif/core'

import {EcCommand} from '../../ec-command.js'
import {EcError} from '../../errors.js'
import {findHost, isAlive} from '../../hosts/hosts.js'
import {keys} from '../../instances/keys.js'

export default class HostRemove extends EcCommand<typeof HostRemove> {
  static override summary = 'Remove a host for good: its scheduler provider and every key of it in etcd.'
  static override description = `Refused while its agent runs (stop it first) or while it holds instances (delete them first), so nothing is orphaned. Starting ec compute start on that machine again registers it anew.`
  static override examples = ['<%= config.bin %> host remove host-b']
  static override enableJsonFlag = true
  static override args = {host: Args.string({description: 'Host name or id', required: true})}

  async run(): Promise<{id: string; name: string; removedKeys: number}> {
    const config = await this.effectiveConfig()
    const [transport, scheduler] = await Promise.all([this.backend(config, 'transport'), this.backend(config, 'scheduler')])
    const host = await findHost(scheduler, this.args.host)
    if (await isAlive(transport, host.id)) {
      throw new EcError('conflict', `host ${host.name} has a running agent; stop ec compute start there first`)
    }

    const {items} = await transport.list(keys.assignments(host.id))
    const used = Object.values(host.usage).some((amount) => amount > 0)
    if (items.length > 0 || used) {
      throw new EcError(
        'conflict',
        `host ${host.name} still holds ${items.length || 'some'} instance(s); delete them first (ec instance list --host ${host.name})`,
      )
    }

    // Placement refuses too (409) if a claim landed since: then nothing is removed.
    await scheduler.removeHost(host.id)
    const {items: left} = await transport.list(keys.host(host.id))
    if (left.length > 0) await transport.commit([], left.map((kv) => ({op: 'delete' as const, key: kv.key})))
    this.log(`${host.name}: removed (provider ${host.id}, ${left.length} etcd key(s))`)
    return {id: host.id, name: host.name, removedKeys: left.length}
  }
}
