import {Args} from '@oclif/core'

import {EcCommand} from '../../ec-command.js'
import {readStorageRecord} from '../../storage/records.js'
import {describeStorageView, storageScheduler, storageView, type StorageView} from '../../storage/view.js'

export default class StorageShow extends EcCommand<typeof StorageShow> {
  static override summary = 'Show shared storage: capacity, usage, path, aggregates and the hosts it serves.'
  static override examples = ['<%= config.bin %> storage show nfs1', '<%= config.bin %> storage show nfs1 --json']
  static override enableJsonFlag = true
  static override args = {storage: Args.string({description: 'Storage name or id.', required: true})}

  async run(): Promise<StorageView> {
    const config = await this.effectiveConfig()
    const [transport, scheduler] = await Promise.all([this.backend(config, 'transport', {shortLived: true}), this.backend(config, 'scheduler')])
    const detail = await storageScheduler(scheduler, config.values.backends.scheduler).describeStorage(this.args.storage)
    const view = storageView(detail, await readStorageRecord(transport, detail.id))
    this.log(describeStorageView(view))
    return view
  }
}
