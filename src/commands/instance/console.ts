import {agentDir} from '../../agent/agent-dir.js'
import {agentStateDirFlag} from '../../agent/state-dir-flag.js'
import {Args, Flags} from '@oclif/core'
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import type {HostIdentity} from '../../agent/host-identity.js'
import {stateDirOverride} from '../../control-plane/from-config.js'
import {EcError} from '../../errors.js'
import {InstanceStore} from '../../instances/store.js'
import {EcCommand} from '../../ec-command.js'

export default class InstanceConsole extends EcCommand<typeof InstanceConsole> {
  static override summary = "Print an instance's serial console log; --follow keeps printing what it writes."
  static override description = `The log is kept on the instance's host until the instance is deleted, so run this on that host (with the agent's --state-dir if it has one).`
  static override examples = ['<%= config.bin %> instance console web1', '<%= config.bin %> instance console web1 --follow']
  static override args = {ref: Args.string({description: 'Instance id or name.', required: true})}
  static override flags = {
    follow: Flags.boolean({char: 'f', description: 'Keep printing new output until the instance is deleted (Ctrl-C to stop).'}),
    'state-dir': agentStateDirFlag,
  }

  async run(): Promise<void> {
    const config = await this.effectiveConfig(stateDirOverride(this.flags['state-dir']))
    const store = new InstanceStore(await this.backend(config, 'transport', {shortLived: true}))
    const found = await store.find(this.args.ref)
    if (!found) throw new EcError('notFound', `no instance "${this.args.ref}"; list them with "ec instance list"`)
    const {id, name, host} = found.value
    if (!host) throw new EcError('notFound', `${name} has not reached a host yet, so it has no console`)
    const hostDir = agentDir(config)
    const here = await readFile(join(hostDir, 'host.json'), 'utf8')
      .then((text) => JSON.parse(text) as HostIdentity)
      .catch(() => undefined)
    if (here?.id !== host.id) {
      throw new EcError('usage', `the console of ${name} is kept on host ${host.name}; run "ec instance console ${name}" there`)
    }

    const hypervisor = await this.backend(config, 'hypervisor', {stateDir: hostDir})
    let printed = 0
    for (;;) {
      const log = await hypervisor.consoleLog(id)
      if (log.length < printed) printed = 0 // rotated
      process.stdout.write(log.slice(printed))
      printed = log.length
      if (!this.flags.follow || !(await store.get(id))) return
      await sleep(500)
    }
  }
}
