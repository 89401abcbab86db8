import {Flags} from '@oclif/core'

import {NO_BACKEND} from '../../backends/open.js'
import {EcCommand} from '../../ec-command.js'
import {type ListingSpec, listingFlags, planListing} from '../../output/listing.js'
import {BACKEND_KINDS, type BackendKind} from '@ec/plugin-api'

export interface BackendListing {
  kind: BackendKind
  name: string
  plugin: string
  description: string
  configKey: string | null
  /** Whether config's backends.<kind> names this one. */
  selected: boolean
}

export default class BackendsList extends EcCommand<typeof BackendsList> {
  static override summary = 'List the backends that installed plugins provide, by kind.'
  static override description =
    'A plugin installed with "ec plugins install" adds its backends here; config\'s backends.<kind> picks one per kind. A selected name that no plugin provides is reported with the alternatives.'
  static override examples = ['<%= config.bin %> backends list', '<%= config.bin %> backends list --kind transport --json']
  static override enableJsonFlag = true
  static override flags = {
    kind: Flags.option({options: BACKEND_KINDS, description: 'Only backends of this kind.'})(),
    ...listingFlags,
  }

  async run(): Promise<BackendListing[]> {
    const plan = planListing(BACKEND_LISTING, this.flags)
    const registry = await this.registry()
    const {backends: selection} = (await this.effectiveConfig()).values
    const listing = registry.list(this.flags.kind).map(({descriptor, plugin}) => ({
      kind: descriptor.kind,
      name: descriptor.name,
      plugin,
      description: descriptor.description,
      configKey: descriptor.config?.key ?? null,
      selected: selection[descriptor.kind] === descriptor.name,
    }))
    listing.sort((a, b) => BACKEND_KINDS.indexOf(a.kind) - BACKEND_KINDS.indexOf(b.kind) || a.name.localeCompare(b.name))
    for (const kind of this.flags.kind ? [this.flags.kind] : BACKEND_KINDS) {
      if (kind === 'metadata' && selection.metadata === NO_BACKEND) continue
      try {
        registry.pick(kind, selection[kind])
      } catch (error) {
        this.warning((error as Error).message)
      }
    }

    return this.printListing(listing, plan)
  }
}

const BACKEND_LISTING: ListingSpec<BackendListing> = {
  id: (b) => `${b.kind}/${b.name}`,
  columns: [
    {name: 'kind', value: (b) => b.kind},
    {name: 'name', value: (b) => b.name},
    {name: 'selected', value: (b) => (b.selected ? 'yes' : '')},
    {name: 'plugin', value: (b) => b.plugin},
    {name: 'description', value: (b) => b.description},
  ],
}
