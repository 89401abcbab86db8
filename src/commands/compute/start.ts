import {agentDir} from '../../agent/agent-dir.js'
import {Flags} from '@oclif/core'

import {ComputeAgent} from '../../agent/agent.js'
import {loadOrCreateIdentity} from '../../agent/host-identity.js'
import {hostTraits, ReportedTraits} from '../../agent/host-traits.js'
import {measuredCapacity} from '../../agent/inventory.js'
import {numaTopology} from '../../agent/numa.js'
import {NO_BACKEND} from '../../backends/open.js'
import {stateDirOverride} from '../../control-plane/from-config.js'
import {withStateLock} from '../../control-plane/state-lock.js'
import {EcCommand} from '../../ec-command.js'
import {lineLogger} from '../../output/logger.js'

export default class ComputeStart extends EcCommand<typeof ComputeStart> {
  static override summary = 'Run this host\'s compute agent: register it, then build and delete the instances assigned to it.'
  static override description = `Registers the host as a scheduler resource provider (its uuid is kept in <state-dir>/compute/host.json, so a restart reuses it), keeps a liveness key on a lease, reconciles its assignments with the hypervisor, then follows them. On SIGINT or SIGTERM it takes the host out of scheduling (the COMPUTE_STATUS_DISABLED trait), lets in-flight work finish for compute.shutdownGraceSeconds, and exits; builds it abandons resume on the next start.`
  static override examples = [
    '<%= config.bin %> compute start',
    '<%= config.bin %> compute start --name host-b --state-dir /var/lib/ec-b',
  ]
  static override flags = {
    'state-dir': Flags.string({description: 'State directory; the agent keeps its identity and instances under <state-dir>/compute.'}),
    name: Flags.string({description: 'Host name in the scheduler (default: compute.hostName, else the machine\'s hostname).'}),
  }

  async run(): Promise<void> {
    const overrides = stateDirOverride(this.flags['state-dir'])
    if (this.flags.name) overrides.push({path: ['compute', 'hostName'], value: this.flags.name, origin: {kind: 'flag', flag: '--name'}})
    const config = await this.effectiveConfig(overrides)
    const {compute, backends: selected} = config.values
    const hostDir = agentDir(config)
    const log = lineLogger((line) => this.log(line))

    await withStateLock({dir: hostDir, name: 'agent.lock', holder: 'another ec compute start'}, async () => {
      const identity = await loadOrCreateIdentity(hostDir, compute.hostName)
      const open = {stateDir: hostDir, log}
      const hypervisor = await this.backend(config, 'hypervisor', open)
      const reported = new ReportedTraits(hostDir)
      // The hypervisor measures the host: capacity, traits, what it can do for guests.
      const [host, previousTraits] = await Promise.all([hypervisor.describeHost(), reported.load()])
      const traits = hostTraits(host, compute.traits)
      // Saved before registering too: a crash in between must not make a dropped trait look like someone else's.
      await reported.save([...previousTraits, ...traits])
      const agent = new ComputeAgent({
        identity,
        compute,
        capacity: measuredCapacity(host.capacity),
        capabilities: host.capabilities,
        log,
        traits,
        previousTraits,
        numaNodes: await numaTopology(compute, async () => host.capacity.numaNodes),
        version: this.config.version,
        backends: {
          transport: await this.backend(config, 'transport', open),
          scheduler: await this.backend(config, 'scheduler', open),
          hypervisor,
          metadata: selected.metadata === NO_BACKEND ? undefined : await this.backend(config, 'metadata', open),
        },
      })
      await agent.start()
      await reported.save(traits)
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGINT', resolve)
        process.once('SIGTERM', resolve)
      })
      log.info(`${signal}: leaving scheduling and finishing in-flight work`)
      const {finished} = await agent.stop()
      log.info(finished ? 'stopped' : 'stopped; unfinished builds resume on the next start')
    })
  }
}
