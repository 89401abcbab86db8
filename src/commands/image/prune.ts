import {agentDir} from '../../agent/agent-dir.js'
import {agentStateDirFlag} from '../../agent/state-dir-flag.js'

import {stateDirOverride} from '../../control-plane/from-config.js'
import {EcCommand} from '../../ec-command.js'
import type {CachedImage} from '@ec/plugin-api'

export default class ImagePrune extends EcCommand<typeof ImagePrune> {
  static override summary = "Remove cached images no guest on this host uses (an image in use is kept)."
  static override examples = ['<%= config.bin %> image prune']
  static override enableJsonFlag = true
  static override flags = {
    'state-dir': agentStateDirFlag,
  }

  async run(): Promise<CachedImage[]> {
    const config = await this.effectiveConfig(stateDirOverride(this.flags['state-dir']))
    const hypervisor = await this.backend(config, 'hypervisor', {stateDir: agentDir(config)})
    const removed = await hypervisor.pruneImages()
    for (const image of removed) this.log(`removed ${image.url} (${(image.bytes / 2 ** 20).toFixed(1)} MiB)`)
    if (removed.length === 0) this.log('nothing to remove: every cached image is in use, or the cache is empty')
    return removed
  }
}
