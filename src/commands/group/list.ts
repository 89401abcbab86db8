import {EcCommand} from '../../ec-command.js'
import {GroupStore} from '../../groups/store.js'
import {type GroupView, viewOf} from '../../groups/view.js'
import {keys} from '../../instances/keys.js'
import type {InstanceRecord} from '../../instances/model.js'
import {InstanceStore} from '../../instances/store.js'
import {type ListingSpec, listingFlags, planListing} from '../../output/listing.js'

export default class GroupList extends EcCommand<typeof GroupList> {
  static override summary = 'List server groups with their policy, members and the hosts they are on.'
  static override examples = ['<%= config.bin %> group list', '<%= config.bin %> group list --json']
  static override enableJsonFlag = true
  static override flags = {...listingFlags}

  async run(): Promise<GroupView[]> {
    const plan = planListing(GROUP_LISTING, this.flags)
    const config = await this.effectiveConfig()
    const store = new InstanceStore(await this.backend(config, 'transport', {shortLived: true}))
    const [groups, {items}] = await Promise.all([new GroupStore(store).list(), store.readAll(keys.instances())])
    const records = new Map<string, InstanceRecord>()
    for (const kv of items) {
      try {
        const record = JSON.parse(kv.value) as InstanceRecord
        records.set(record.id, record)
      } catch {
        // ec audit reports a damaged record; a listing of groups goes on.
      }
    }

    const views = groups.map((group) => viewOf(group, new Map(Object.keys(group.members).map((id) => [id, records.get(id)]))))
    return this.printListing(views.sort((a, b) => a.name.localeCompare(b.name)), plan)
  }
}

const GROUP_LISTING: ListingSpec<GroupView> = {
  id: (g) => g.name,
  columns: [
    {name: 'name', value: (g) => g.name},
    {name: 'id', value: (g) => g.id},
    {name: 'policy', value: (g) => g.policy},
    {name: 'strength', value: (g) => (g.soft ? 'soft' : 'hard')},
    {name: 'max_per_host', value: (g) => g.maxPerHost ?? '-'},
    {name: 'members', value: (g) => g.members.length},
    {name: 'hosts', value: (g) => [...new Set(g.members.map((m) => m.host.name))].sort().join(',') || '-'},
    {name: 'created', value: (g) => g.createdAt},
  ],
  defaultColumns: ['name', 'policy', 'strength', 'max_per_host', 'members', 'hosts'],
}
