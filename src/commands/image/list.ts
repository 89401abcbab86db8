import {agentDir, agentStateDirFlag} from '../../agent/agent-dir.js'

import {stateDirOverride} from '../../control-plane/from-config.js'
import {EcCommand} from '../../ec-command.js'
import {renderTable} from '../../output/table.js'
import type {CachedImage} from '../../plugins/hypervisor.js'

export default class ImageList extends EcCommand<typeof ImageList> {
  static override summary = "List this host's image cache: source URL, size, checksum, and whether a guest uses it."
  static override examples = ['<%= config.bin %> image list', '<%= config.bin %> image list --json']
  static override enableJsonFlag = true
  static override flags = {
    'state-dir': agentStateDirFlag,
  }

  async run(): Promise<CachedImage[]> {
    const config = await this.effectiveConfig(stateDirOverride(this.flags['state-dir']))
    const hypervisor = await this.backend(config, 'hypervisor', {stateDir: agentDir(config)})
    const images = await hypervisor.listImages()
    this.log(
      renderTable(
        ['url', 'size', 'in use', 'sha256', 'path'],
        images.map((i) => [i.url, `${(i.bytes / 2 ** 20).toFixed(1)} MiB`, i.inUse ? 'yes' : 'no', i.sha256.slice(0, 12), i.path]),
      ),
    )
    return images
  }
}
