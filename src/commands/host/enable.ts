import {Args} from '@oclif/core'

import {EcCommand} from '../../ec-command.js'
import {findHost, isAlive} from '../../hosts/hosts.js'
import {keys} from '../../instances/keys.js'

export default class HostEnable extends EcCommand<typeof HostEnable> {
  static override summary = 'Put a disabled host back into scheduling.'
  static override description = `Removes the operator's disable. A host whose agent runs takes new instances at once; one whose agent is stopped does when the agent starts.`
  static override examples = ['<%= config.bin %> host enable host-b']
  static override enableJsonFlag = true
  static override args = {host: Args.string({description: 'Host name or id', required: true})}

  async run(): Promise<{id: string; name: string; schedulable: boolean}> {
    const config = await this.effectiveConfig()
    const [transport, scheduler] = await Promise.all([this.backend(config, 'transport'), this.backend(config, 'scheduler')])
    const host = await findHost(scheduler, this.args.host)
    await transport.commit([], [{op: 'delete', key: keys.disabled(host.id)}])
    // Without a running agent nothing would build what lands there: its start enables it.
    const alive = await isAlive(transport, host.id)
    if (alive) await scheduler.setSchedulable(host.id, true)
    this.log(alive ? `${host.name}: enabled` : `${host.name}: enabled; it takes instances once its agent (ec compute start) runs`)
    return {id: host.id, name: host.name, schedulable: alive}
  }
}
