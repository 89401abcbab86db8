import {randomUUID} from 'node:crypto'

import {Args, Flags} from '@oclif/core'

import {EcCommand} from '../../ec-command.js'
import {amountFlag} from '../../input/amount-flag.js'
import {checkStoragePath, createStorageRecord, deleteStorageRecord, type StorageRecord} from '../../storage/records.js'
import {describeStorageView, storageScheduler, storageView, type StorageView} from '../../storage/view.js'

export default class StorageAdd extends EcCommand<typeof StorageAdd> {
  static override summary = 'Add shared storage: DISK_GB that the hosts of an aggregate draw instance disks from.'
  static override description = `The storage is a Placement resource provider with MISC_SHARES_VIA_AGGREGATE and DISK_GB inventory, in the aggregate(s) given. An instance on a member host takes its disk from it when the host has no disk of its own (compute.inventory.DISK_GB: 0), or when asked (ec instance create --disk-from shared); its disk file goes in --path on that host (default: where the host keeps its own disks).`
  static override examples = [
    '<%= config.bin %> storage add nfs1 --disk-gb 10000 --aggregate rack1 --path /srv/nfs1',
    '<%= config.bin %> host aggregate add host-a rack1',
  ]
  static override enableJsonFlag = true
  static override args = {name: Args.string({description: 'Storage name: 1-63 letters, digits, ".", "_", "-".', required: true})}
  static override flags = {
    'disk-gb': amountFlag({description: 'Capacity in GB (DISK_GB), 1 to 2147483647.', required: true}),
    aggregate: Flags.string({description: 'Aggregate (name or uuid) whose hosts it serves (repeatable).', required: true, multiple: true}),
    path: Flags.string({description: 'Absolute directory on every member host the disks go in (default: the host\'s own disk directory).'}),
  }

  async run(): Promise<StorageView> {
    const path = this.flags.path === undefined ? undefined : checkStoragePath(this.flags.path)
    const config = await this.effectiveConfig()
    const [transport, scheduler] = await Promise.all([this.backend(config, 'transport'), this.backend(config, 'scheduler')])
    const storage = storageScheduler(scheduler, config.values.backends.scheduler)
    const record: StorageRecord = {id: randomUUID(), name: this.args.name, ...(path ? {path} : {}), createdAt: new Date().toISOString()}
    // The path first: a provider that can be scheduled from must never lack it.
    await createStorageRecord(transport, record)
    let view: StorageView
    try {
      view = storageView(await storage.addStorage({id: record.id, name: record.name, diskGb: this.flags['disk-gb'], aggregates: this.flags.aggregate}), record)
    } catch (error) {
      await deleteStorageRecord(transport, record.id).catch(() => undefined)
      throw error
    }

    this.log(describeStorageView(view))
    return view
  }
}
