import {agentDir} from '../../agent/agent-dir.js'
import {agentStateDirFlag} from '../../agent/state-dir-flag.js'

import {stateDirOverride} from '../../control-plane/from-config.js'
import {EcError} from '../../errors.js'
import {EcCommand} from '../../ec-command.js'
import {lineLogger} from '../../output/logger.js'

export default class MetadataServe extends EcCommand<typeof MetadataServe> {
  static override summary = 'Run the metadata service in the foreground (the compute agent starts it by itself otherwise).'
  static override description = `Serves the data the agent on this host published (the same directory under <state-dir>/compute), so guests keep getting it while the agent restarts. Stops on SIGINT or SIGTERM.`
  static override examples = ['<%= config.bin %> metadata serve']
  static override flags = {
    'state-dir': agentStateDirFlag,
  }

  async run(): Promise<void> {
    const config = await this.effectiveConfig(stateDirOverride(this.flags['state-dir']))
    const log = lineLogger((line) => this.log(line))
    const metadata = await this.backend(config, 'metadata', {stateDir: agentDir(config), log})
    if (!metadata.serve) {
      throw new EcError('usage', `the ${config.values.backends.metadata} metadata backend has no service to run; nothing to serve`)
    }

    const server = await metadata.serve()
    log.info(`metadata service listening on ${server.url}`)
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    log.info(`${signal}: stopping`)
    await server.close()
  }
}
