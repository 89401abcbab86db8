// The `mdserver` metadata backend: publishes each instance into the data
// directory and makes sure a metadata server serves it — one it starts in
// this process, or another ec mdserver (e.g. `ec metadata serve`) already
// listening on the port and reading the same directory. The guest finds its
// data through the SMBIOS serial: ds=nocloud-net;s=<guestBaseUrl>/<token>/.
import {type FSWatcher, watch} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {setTimeout as sleep} from 'node:timers/promises'

import type {
  InstanceMetadata,
  Logger,
  MetadataBackend,
  PhoneHome,
  PublishedMetadata,
  ServiceHealth,
} from '@ec/plugin-api'

import type {MetadataSettings} from './config.js'
import {phoneHomeVendorData} from './documents.js'
import {MetadataBackendError, messageOf} from './errors.js'
import {effectiveMetadata} from './publish.js'
import {AddressInUseError, dataDirId, httpGet, localUrl, PROBE_HEADER, type MetadataServer, probeMetadataServer, startMetadataServer} from './server.js'
import {checkInstanceId, ensureDataDir, idOfRecordFile, type InstanceRecord, listRecordIds, newToken, parseRecord, readRecord, recordPath, recordStamp, removeRecord, withInstanceLock, writeRecord} from './store.js'

export interface MdserverOptions {
  /** How often the data directory is polled for phone-homes recorded by another process (default 1000 ms). */
  phoneHomePollMs?: number
  /** Passed to a server this backend starts: how often it re-checks the data directory (default 2000 ms). */
  rescanMs?: number
}

type Endpoint = {kind: 'local'; server: MetadataServer} | {kind: 'remote'; url: string}

export class MdserverBackend implements MetadataBackend {
  readonly phonesHome = true

  private endpoint?: Endpoint
  private ensuring?: Promise<Endpoint>
  private readonly handlers: Array<(report: PhoneHome) => void> = []
  private unsubscribeLocal?: () => void
  /** Per instance, the phone-home (its `at`) last handed to the handlers, and the file stamp last looked at. */
  private readonly delivered = new Map<string, string>()
  private readonly stamps = new Map<string, string>()
  private watcher?: FSWatcher
  private poller?: NodeJS.Timeout
  private polling?: Promise<void>
  private closed = false

  constructor(
    readonly settings: MetadataSettings,
    private readonly log: Logger,
    private readonly options: MdserverOptions = {},
  ) {}

  /**
   * Serve what an earlier run published: if the data directory holds instances,
   * start (or find) the server now, so guests that reboot before the next
   * publish still get their data. A failure is logged; publish retries.
   */
  async resume(): Promise<void> {
    const ids = await listRecordIds(this.settings.dataDir).catch(() => [])
    if (ids.length === 0) return
    try {
      await this.ensureServer()
    } catch (error) {
      this.log.warn(`metadata: ${ids.length} published instance(s) are not served yet: ${messageOf(error)}`)
    }
  }

  /** `ec metadata serve`: the server in this process, over the same data directory as the agent's. */
  async serve(): Promise<{url: string; close(): Promise<void>}> {
    this.assertOpen()
    const server = await startMetadataServer(this.settings, this.settings.dataDir, this.log)
    return {url: server.url, close: () => server.close()}
  }

  async publish(data: InstanceMetadata): Promise<PublishedMetadata> {
    this.assertOpen()
    const metadata = effectiveMetadata(data, this.settings)
    const {dataDir, guestBaseUrl} = this.settings
    const endpoint = await this.ensureServer()
    const record = await withInstanceLock(dataDir, metadata.instanceId, async () => {
      const existing = await readRecord(dataDir, metadata.instanceId).catch((error) => {
        this.log.warn(`metadata: ${messageOf(error)}; replacing it`)
        return undefined
      })
      const token = existing?.token ?? newToken()
      if (metadata.vendorData === undefined && this.settings.vendorPhoneHome) {
        metadata.vendorData = phoneHomeVendorData(`${guestBaseUrl}/${token}/`)
      }

      const now = new Date().toISOString()
      const next: InstanceRecord = {version: 1, token, metadata, publishedAt: existing?.publishedAt ?? now, updatedAt: now}
      if (existing?.phoneHome) next.phoneHome = existing.phoneHome
      await writeRecord(dataDir, next)
      return next
    })
    if (endpoint.kind === 'local') await endpoint.server.refresh(metadata.instanceId)
    else await this.awaitRemote(endpoint.url, record.token, metadata.instanceId)
    this.log.debug(`metadata: published ${metadata.instanceId}`)
    return {smbios: {serial: `ds=nocloud-net;s=${guestBaseUrl}/${record.token}/`}, attachments: []}
  }

  async unpublish(instanceId: string): Promise<void> {
    checkInstanceId(instanceId)
    const {dataDir} = this.settings
    await withInstanceLock(dataDir, instanceId, () => removeRecord(dataDir, instanceId))
    if (this.endpoint?.kind === 'local') await this.endpoint.server.refresh(instanceId)
    this.delivered.delete(instanceId)
    this.stamps.delete(instanceId)
  }

  onPhoneHome(handler: (report: PhoneHome) => void): void {
    this.assertOpen()
    this.handlers.push(handler)
    if (this.handlers.length === 1) {
      this.subscribeLocal()
      this.startPhoneHomePolling()
    }
  }

  async health(): Promise<ServiceHealth> {
    const fallback = localUrl(this.settings.host, this.settings.port)
    let endpoint: Endpoint
    try {
      endpoint = await this.ensureServer()
    } catch (error) {
      return {ok: false, endpoint: fallback, detail: messageOf(error)}
    }

    const url = endpoint.kind === 'local' ? endpoint.server.url : endpoint.url
    const answer = await probeMetadataServer(url)
    if (!answer) return {ok: false, endpoint: url, detail: 'the metadata server does not answer /healthz'}
    return {
      ok: true,
      endpoint: url,
      version: answer.version,
      detail: endpoint.kind === 'local' ? `served by this process from ${this.settings.dataDir}` : `served by another ec mdserver process from ${this.settings.dataDir}`,
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.watcher?.close()
    clearInterval(this.poller)
    await this.polling?.catch(() => undefined)
    this.unsubscribeLocal?.()
    const endpoint = this.endpoint ?? (await this.ensuring?.catch(() => undefined))
    this.endpoint = undefined
    if (endpoint?.kind === 'local') await endpoint.server.close()
  }

  // ---- the server ----------------------------------------------------------

  private async ensureServer(): Promise<Endpoint> {
    this.assertOpen()
    if (this.endpoint?.kind === 'local') return this.endpoint
    if (this.endpoint?.kind === 'remote') {
      // Another process serves: make sure it still does, else take over.
      if (await probeMetadataServer(this.endpoint.url)) return this.endpoint
      this.log.warn(`metadata: the ec mdserver at ${this.endpoint.url} stopped answering; starting one in this process`)
      this.endpoint = undefined
    }

    this.ensuring ??= this.findOrStartServer().finally(() => {
      this.ensuring = undefined
    })
    const endpoint = await this.ensuring
    if (this.closed) {
      if (endpoint.kind === 'local') await endpoint.server.close()
      throw new MetadataBackendError('failure', 'the metadata backend is closed')
    }

    this.endpoint = endpoint
    this.subscribeLocal()
    return endpoint
  }

  private async findOrStartServer(): Promise<Endpoint> {
    const {host, port, ec2, dataDir} = this.settings
    await ensureDataDir(dataDir)
    try {
      const server = await startMetadataServer({host, port, ec2, rescanMs: this.options.rescanMs}, dataDir, this.log)
      return {kind: 'local', server}
    } catch (error) {
      if (!(error instanceof AddressInUseError)) throw error
      const url = localUrl(host, port)
      const answer = await probeMetadataServer(url)
      if (!answer) throw error
      if (answer.dataDirId !== (await dataDirId(dataDir))) {
        throw new MetadataBackendError(
          'environment',
          `port ${port} on ${host} is taken by an ec mdserver that serves another data directory than ${dataDir}; give both the same metadata.dataDir or set metadata.port (EC_METADATA_PORT)`,
          {notApplied: true},
        )
      }

      this.log.info(`metadata: using the ec mdserver already listening on ${url} (it reads ${dataDir})`)
      return {kind: 'remote', url}
    }
  }

  /** Wait until the server in the other process serves the new record (it follows the directory). */
  private async awaitRemote(url: string, token: string, id: string): Promise<void> {
    const deadline = Date.now() + 5000
    while (Date.now() < deadline) {
      // fs.watch usually tells the other process within a few milliseconds
      await sleep(10)
      if ((await httpGet(`${url}/${token}/meta-data`, 1000, {[PROBE_HEADER]: '1'}))?.status === 200) return
    }

    this.log.warn(`metadata: the ec mdserver at ${url} does not serve ${id} yet; it picks it up at its next rescan`)
  }

  // ---- phone-home ----------------------------------------------------------

  private subscribeLocal(): void {
    if (this.unsubscribeLocal || this.handlers.length === 0 || this.endpoint?.kind !== 'local') return
    this.unsubscribeLocal = this.endpoint.server.onPhoneHome((report) => this.deliver(report))
  }

  /**
   * Phone-homes a server in another process receives are only recorded in the
   * instance's file: follow the data directory (fs.watch, and a poll every
   * second in case an event is lost) and hand new ones to the handlers. Those
   * recorded before the first handler was registered are not replayed.
   */
  private startPhoneHomePolling(): void {
    const {dataDir} = this.settings
    const interval = this.options.phoneHomePollMs ?? 1000
    this.polling = this.scanPhoneHomes(false).catch(() => undefined)
    try {
      this.watcher = watch(dataDir, {persistent: false}, (_event, name) => {
        const id = name ? idOfRecordFile(name.toString()) : undefined
        if (id) void this.checkPhoneHome(id, true)
      })
      this.watcher.on('error', () => undefined)
    } catch {
      // the data directory may not exist yet: the poll covers it
    }

    this.poller = setInterval(() => {
      this.polling = (this.polling ?? Promise.resolve()).then(() => this.scanPhoneHomes(true)).catch(() => undefined)
    }, interval)
    this.poller.unref()
  }

  private async scanPhoneHomes(deliver: boolean): Promise<void> {
    const ids = await listRecordIds(this.settings.dataDir)
    await Promise.all(ids.map((id) => this.checkPhoneHome(id, deliver)))
  }

  private async checkPhoneHome(id: string, deliver: boolean): Promise<void> {
    if (this.closed) return
    const stamp = await recordStamp(this.settings.dataDir, id)
    if (stamp === undefined || this.stamps.get(id) === stamp) return
    this.stamps.set(id, stamp)
    const record = parseRecord(await readFile(recordPath(this.settings.dataDir, id), 'utf8').catch(() => ''))
    const phoneHome = record?.phoneHome
    if (!phoneHome) return
    if (!deliver) {
      this.delivered.set(id, phoneHome.at)
      return
    }

    this.deliver({instanceId: id, address: phoneHome.address, hostname: phoneHome.hostname, hostKeys: phoneHome.hostKeys, receivedAt: phoneHome.at})
  }

  private deliver(report: PhoneHome): void {
    if (this.closed || this.delivered.get(report.instanceId) === report.receivedAt) return
    this.delivered.set(report.instanceId, report.receivedAt)
    for (const handler of this.handlers) {
      try {
        handler(report)
      } catch (error) {
        this.log.warn(`metadata: a phone-home handler failed: ${messageOf(error)}`)
      }
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new MetadataBackendError('failure', 'the metadata backend is closed')
  }
}
