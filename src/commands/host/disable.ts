import {Args, Flags} from '@oclif/core'

import {EcCommand} from '../../ec-command.js'
import {findHost, type DisabledMarker} from '../../hosts/hosts.js'
import {keys} from '../../instances/keys.js'

export default class HostDisable extends EcCommand<typeof HostDisable> {
  static override summary = 'Take a host out of scheduling for maintenance; its instances keep running.'
  static override description = `New instances are not placed on it (the COMPUTE_STATUS_DISABLED trait) until ec host enable, across restarts of its agent. The reason is shown by ec host list.`
  static override examples = ['<%= config.bin %> host disable host-b --reason "new disks"']
  static override enableJsonFlag = true
  static override args = {host: Args.string({description: 'Host name or id', required: true})}
  static override flags = {reason: Flags.string({description: 'Why, for ec host list.'})}

  async run(): Promise<{id: string; name: string; disabled: DisabledMarker}> {
    const config = await this.effectiveConfig()
    const [transport, scheduler] = await Promise.all([this.backend(config, 'transport'), this.backend(config, 'scheduler')])
    const host = await findHost(scheduler, this.args.host)
    const marker: DisabledMarker = {reason: this.flags.reason, since: new Date().toISOString()}
    // The marker first: an agent starting meanwhile then stays out of scheduling.
    await transport.commit([], [{op: 'put', key: keys.disabled(host.id), value: JSON.stringify(marker)}])
    await scheduler.setSchedulable(host.id, false)
    this.log(`${host.name}: disabled${marker.reason ? ` (${marker.reason})` : ''}`)
    return {id: host.id, name: host.name, disabled: marker}
  }
}
