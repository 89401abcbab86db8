import {agentDir, agentStateDirFlag} from '../../agent/agent-dir.js'

import {stateDirOverride} from '../../control-plane/from-config.js'
import {EcCommand} from '../../ec-command.js'
import {type ListingSpec, listingFlags, planListing} from '../../output/listing.js'
import type {CachedImage} from '@ec/plugin-api'

export default class ImageList extends EcCommand<typeof ImageList> {
  static override summary = "List this host's image cache: source URL, size, checksum, and whether a guest uses it."
  static override examples = ['<%= config.bin %> image list', '<%= config.bin %> image list --json']
  static override enableJsonFlag = true
  static override flags = {
    'state-dir': agentStateDirFlag,
    ...listingFlags,
  }

  async run(): Promise<CachedImage[]> {
    const plan = planListing(IMAGE_LISTING, this.flags)
    const config = await this.effectiveConfig(stateDirOverride(this.flags['state-dir']))
    const hypervisor = await this.backend(config, 'hypervisor', {stateDir: agentDir(config)})
    return this.printListing(await hypervisor.listImages(), plan)
  }
}

const IMAGE_LISTING: ListingSpec<CachedImage> = {
  id: (i) => i.url,
  columns: [
    {name: 'url', value: (i) => i.url},
    {name: 'size', value: (i) => i.bytes, format: (v) => `${(Number(v) / 2 ** 20).toFixed(1)} MiB`},
    {name: 'in_use', value: (i) => (i.inUse ? 'yes' : 'no')},
    {name: 'sha256', value: (i) => i.sha256, format: (v) => String(v).slice(0, 12)},
    {name: 'path', value: (i) => i.path},
  ],
}
