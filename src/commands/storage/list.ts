import {EcCommand} from '../../ec-command.js'
import {type ListingSpec, listingFlags, planListing} from '../../output/listing.js'
import {listStorageRecords} from '../../storage/records.js'
import {storageScheduler, storageView, type StorageView} from '../../storage/view.js'

export default class StorageList extends EcCommand<typeof StorageList> {
  static override summary = 'List shared storage with capacity, usage, path and member hosts.'
  static override examples = ['<%= config.bin %> storage list', '<%= config.bin %> storage list --json']
  static override enableJsonFlag = true
  static override flags = {...listingFlags}

  async run(): Promise<StorageView[]> {
    const plan = planListing(STORAGE_LISTING, this.flags)
    const config = await this.effectiveConfig()
    const [transport, scheduler] = await Promise.all([this.backend(config, 'transport', {shortLived: true}), this.backend(config, 'scheduler')])
    const [details, records] = await Promise.all([storageScheduler(scheduler, config.values.backends.scheduler).listStorage(), listStorageRecords(transport)])
    return this.printListing(details.map((detail) => storageView(detail, records.get(detail.id))), plan)
  }
}

const STORAGE_LISTING: ListingSpec<StorageView> = {
  id: (s) => s.name,
  columns: [
    {name: 'name', value: (s) => s.name},
    {name: 'id', value: (s) => s.id},
    {name: 'disk_gb', value: (s) => s.usedGb, format: (_, s) => `${s.usedGb}/${s.capacityGb}`},
    {name: 'free_gb', value: (s) => s.capacityGb - s.usedGb},
    {name: 'path', value: (s) => s.path ?? '-'},
    {name: 'members', value: (s) => s.members.map((m) => m.name).join(',') || '-'},
    {name: 'aggregates', value: (s) => s.aggregates.length},
  ],
  defaultColumns: ['name', 'disk_gb', 'free_gb', 'path', 'members'],
}
