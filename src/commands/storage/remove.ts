import {Args} from '@oclif/core'

import {EcCommand} from '../../ec-command.js'
import {deleteStorageRecord, listStorageRecords} from '../../storage/records.js'
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
    const ref = this.args.storage
    const found = await storage.describeStorage(ref).catch(async (error: unknown) => {
      // A remove that lost its connection after the provider went: finish by dropping the record.
      const leftover = [...(await listStorageRecords(transport)).values()].find((r) => r.id === ref || r.name === ref)
      if ((error as {reason?: string}).reason === 'notFound' && leftover) return leftover
      throw error
    })
    const {id, name} = found
    // Placement refuses (409) while any consumer holds DISK_GB on it: then nothing is removed.
    await storage.removeStorage(id)
    await deleteStorageRecord(transport, id)
    this.log(`${name}: removed (${id})`)
    return {id, name}
  }
}
