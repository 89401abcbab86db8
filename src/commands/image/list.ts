import {agentDir} from '../../agent/agent-dir.js'
import {agentStateDirFlag} from '../../agent/state-dir-flag.js'

import {stateDirOverride} from '../../control-plane/from-config.js'
import {EcCommand} from '../../ec-command.js'
import {imageNamesDir, namedImages} from '../../images/names.js'
import {type ListingSpec, listingFlags, planListing} from '../../output/listing.js'
import type {CachedImage} from '@ec/plugin-api'

export default class ImageList extends EcCommand<typeof ImageList> {
  static override summary = "List this host's image cache: source URL, the names `ec image pull --name` gave it, size, checksum, and whether a guest uses it."
  static override examples = ['<%= config.bin %> image list', '<%= config.bin %> image list --json']
  static override enableJsonFlag = true
  static override flags = {
    'state-dir': agentStateDirFlag,
    ...listingFlags,
  }

  async run(): Promise<NamedCachedImage[]> {
    const plan = planListing(IMAGE_LISTING, this.flags)
    const config = await this.effectiveConfig(stateDirOverride(this.flags['state-dir']))
    const hypervisor = await this.backend(config, 'hypervisor', {stateDir: agentDir(config)})
    const names = Object.entries(namedImages(imageNamesDir(agentDir(config))))
    const images = (await hypervisor.listImages()).map((image) => ({...image, names: names.filter(([, named]) => named.url === image.url).map(([name]) => name).sort()}))
    return this.printListing(images, plan)
  }
}

type NamedCachedImage = CachedImage & {names: string[]}

const IMAGE_LISTING: ListingSpec<NamedCachedImage> = {
  id: (i) => i.url,
  columns: [
    {name: 'url', value: (i) => i.url},
    {name: 'names', value: (i) => i.names.join(',')},
    {name: 'size', value: (i) => i.bytes, format: (v) => `${(Number(v) / 2 ** 20).toFixed(1)} MiB`},
    {name: 'in_use', value: (i) => (i.inUse ? 'yes' : 'no')},
    {name: 'sha256', value: (i) => i.sha256, format: (v) => String(v).slice(0, 12)},
    {name: 'path', value: (i) => i.path},
  ],
}
