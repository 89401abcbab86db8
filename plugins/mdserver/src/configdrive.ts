// The `configdrive` metadata backend: a NoCloud seed ISO (volume label
// "cidata": meta-data, user-data, network-config) per instance, attached as a
// CD-ROM. No server and no network needed; no phone-home either (there is
// nobody to call), so onPhoneHome registers nothing.
import {mkdir, rm} from 'node:fs/promises'
import {join} from 'node:path'

import type {
  InstanceMetadata,
  Logger,
  MetadataBackend,
  PhoneHome,
  PublishedMetadata,
  ServiceHealth,
} from '@ec/plugin-api'

import type {MetadataSettings} from './config.js'
import {NETWORK_CONFIG, nocloudMetaData, nocloudUserData, nocloudVendorData} from './documents.js'
import {MetadataBackendError, messageOf} from './errors.js'
import {availableIsoTool, buildIso, type IsoFile} from './iso.js'
import {effectiveMetadata} from './publish.js'
import {checkInstanceId, ensureDataDir, serialized} from './store.js'

export const CONFIG_DRIVE_LABEL = 'cidata'
export const CONFIG_DRIVE_FILE = 'cidata.iso'

export class ConfigDriveBackend implements MetadataBackend {
  // A CD-ROM cannot take a report back: the guest is ready when it runs.
  readonly phonesHome = false

  private warnedPhoneHome = false

  constructor(
    readonly settings: MetadataSettings,
    private readonly log: Logger,
  ) {}

  isoPath(instanceId: string): string {
    return join(this.settings.dataDir, instanceId, CONFIG_DRIVE_FILE)
  }

  async publish(data: InstanceMetadata): Promise<PublishedMetadata> {
    const metadata = effectiveMetadata(data, this.settings)
    const id = metadata.instanceId
    const directory = join(this.settings.dataDir, id)
    await ensureDataDir(this.settings.dataDir)
    const files: IsoFile[] = [
      {name: 'meta-data', contents: nocloudMetaData(metadata)},
      {name: 'user-data', contents: nocloudUserData(metadata)},
      {name: 'network-config', contents: NETWORK_CONFIG},
    ]
    const vendorData = nocloudVendorData(metadata)
    if (vendorData !== '') files.push({name: 'vendor-data', contents: vendorData})
    await serialized(this.settings.dataDir, id, async () => {
      try {
        await mkdir(directory, {recursive: true, mode: 0o755})
      } catch (error) {
        throw new MetadataBackendError('environment', `cannot create ${directory}: ${messageOf(error)}; set metadata.dataDir to a writable directory`, {cause: error})
      }

      await buildIso(this.isoPath(id), CONFIG_DRIVE_LABEL, files)
    })
    this.log.debug(`metadata: wrote the config drive of ${id} to ${this.isoPath(id)}`)
    return {attachments: [{type: 'cdrom', path: this.isoPath(id)}]}
  }

  async unpublish(instanceId: string): Promise<void> {
    checkInstanceId(instanceId)
    await serialized(this.settings.dataDir, instanceId, () => rm(join(this.settings.dataDir, instanceId), {recursive: true, force: true}))
  }

  /** A config drive cannot hear from the guest: the handler is never called. */
  onPhoneHome(_handler: (report: PhoneHome) => void): void {
    if (this.warnedPhoneHome) return
    this.warnedPhoneHome = true
    this.log.debug('metadata: the configdrive backend has no phone-home; use backends.metadata: mdserver for it')
  }

  async health(): Promise<ServiceHealth> {
    const tool = await availableIsoTool()
    return tool
      ? {ok: true, endpoint: this.settings.dataDir, detail: `config drives built with ${tool}`}
      : {ok: false, endpoint: this.settings.dataDir, detail: "neither genisoimage nor xorriso is installed; install Debian's genisoimage"}
  }

  async close(): Promise<void> {}
}
