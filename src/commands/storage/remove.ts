import {Args} from '@oclif/core'

import {EcCommand} from '../../ec-command.js'
import {deleteStorageRecord} from '../../storage/records.js'
import {storageScheduler} from '../../storage/view.js'

export default class StorageRemove extends EcCommand<typeof StorageRemove> {
  static override summary = 'Remove shared storage; refused (exit 5) while instance disks are on it.'
  static override description = 'The files under its path are left alone: ec removes only the disks of its own instances, when they are deleted.'
  static override examples = ['<%= config.bin %> storage remove nfs1']
  static override enableJsonFlag = true
  static override args = {storage: Args.string({description: 'Storage name or id.', required: true})}

  async run(): Promise<{id: string; name: string}> {
    const config = await this.effectiveConfig()
    const [transport, scheduler] = await Promise.all([this.backend(config, 'transport'), this.backend(config, 'scheduler')])
    const storage = storageScheduler(scheduler, config.values.backends.scheduler)
    const {id, name} = await storage.describeStorage(this.args.storage)
    // Placement refuses (409) while any consumer holds DISK_GB on it: then nothing is removed.
    await storage.removeStorage(id)
    await deleteStorageRecord(transport, id)
    this.log(`${name}: removed (${id})`)
    return {id, name}
  }
}
