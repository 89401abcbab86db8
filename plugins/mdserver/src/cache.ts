// The server's view of the data directory, kept in memory so that no request
// touches the disk: every published instance rendered once, indexed by token
// and by address. It follows the directory with fs.watch (instant, for files
// written by another process such as the agent) and re-checks every file's
// stamp every few seconds in case an event was lost.
import {type FSWatcher, watch} from 'node:fs'
import {readFile} from 'node:fs/promises'

import type {Logger} from '@ec/plugin-api'

import {type Ec2Dir, ec2Tree, nocloudMetaData, nocloudUserData, nocloudVendorData, type OpenStackFiles, openstackFiles} from './documents.js'
import {messageOf} from './errors.js'
import {idOfRecordFile, type InstanceRecord, listRecordIds, parseRecord, recordPath, recordStamp, serialized} from './store.js'

export interface CachedInstance {
  id: string
  token: string
  /** Normalised (no ::ffff: prefix); the key of the address-checked layouts. */
  address?: string
  record: InstanceRecord
  metaData: string
  userData: Buffer
  vendorData: string
  ec2: Ec2Dir
  openstack: OpenStackFiles
  stamp?: string
}

/** 127.0.0.1 and ::ffff:127.0.0.1 are the same caller. */
export function normalizeAddress(address: string | undefined): string | undefined {
  if (!address) return undefined
  const lower = address.toLowerCase()
  return lower.startsWith('::ffff:') && lower.includes('.') ? lower.slice(7) : lower
}

export function renderInstance(record: InstanceRecord, stamp?: string): CachedInstance {
  const m = record.metadata
  return {
    id: m.instanceId,
    token: record.token,
    address: normalizeAddress(m.address),
    record,
    metaData: nocloudMetaData(m),
    userData: Buffer.from(nocloudUserData(m), 'utf8'),
    vendorData: nocloudVendorData(m),
    ec2: ec2Tree(m),
    openstack: openstackFiles(m),
    stamp,
  }
}

export interface CacheOptions {
  /** How often every file's stamp is checked, besides fs.watch. */
  rescanMs?: number
}

export class InstanceCache {
  private readonly byId = new Map<string, CachedInstance>()
  private readonly byToken = new Map<string, CachedInstance>()
  private readonly byAddress = new Map<string, Set<CachedInstance>>()
  private readonly scheduled = new Set<string>()
  private watcher?: FSWatcher
  private timer?: NodeJS.Timeout
  private closed = false

  constructor(
    readonly dataDir: string,
    private readonly log: Logger,
    private readonly options: CacheOptions = {},
  ) {}

  async start(): Promise<void> {
    try {
      this.watcher = watch(this.dataDir, {persistent: false}, (_event, name) => {
        const id = name ? idOfRecordFile(name.toString()) : undefined
        if (id) this.schedule(id)
      })
      this.watcher.on('error', (error) => this.log.warn(`metadata: watching ${this.dataDir} failed (${messageOf(error)}); falling back to rescans`))
    } catch (error) {
      this.log.warn(`metadata: cannot watch ${this.dataDir} (${messageOf(error)}); changes from other processes show after a rescan`)
    }

    await this.rescan()
    this.timer = setInterval(() => void this.rescan().catch((error) => this.log.warn(`metadata: rescan of ${this.dataDir} failed: ${messageOf(error)}`)), this.options.rescanMs ?? 2000)
    this.timer.unref()
  }

  close(): void {
    this.closed = true
    this.watcher?.close()
    clearInterval(this.timer)
  }

  get size(): number {
    return this.byId.size
  }

  byTokenGet(token: string): CachedInstance | undefined {
    return this.byToken.get(token)
  }

  byIdGet(id: string): CachedInstance | undefined {
    return this.byId.get(id)
  }

  /** The one instance known by this address; undefined when none or several are. */
  byAddressGet(address: string | undefined): {instance?: CachedInstance; ambiguous: boolean} {
    const set = address ? this.byAddress.get(address) : undefined
    if (!set || set.size === 0) return {ambiguous: false}
    if (set.size > 1) return {ambiguous: true}
    return {instance: set.values().next().value, ambiguous: false}
  }

  /** Read the instance's file again, now; resolves once the cache reflects it. */
  async reload(id: string): Promise<void> {
    await serialized(this.dataDir, id, async () => {
      if (this.closed) return
      const stamp = await recordStamp(this.dataDir, id)
      if (stamp === undefined) {
        this.drop(id)
        return
      }

      const cached = this.byId.get(id)
      if (cached?.stamp === stamp) return
      let text: string
      try {
        text = await readFile(recordPath(this.dataDir, id), 'utf8')
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') this.drop(id)
        else this.log.warn(`metadata: cannot read ${recordPath(this.dataDir, id)}: ${messageOf(error)}`)
        return
      }

      const record = parseRecord(text)
      if (!record || record.metadata.instanceId !== id) {
        this.log.warn(`metadata: ${recordPath(this.dataDir, id)} is not an ec metadata record; not serving it`)
        this.drop(id)
        return
      }

      this.put(renderInstance(record, stamp))
    })
  }

  /** Bring every file in: new, changed and removed ones. */
  async rescan(): Promise<void> {
    if (this.closed) return
    const ids = new Set(await listRecordIds(this.dataDir))
    for (const id of this.byId.keys()) if (!ids.has(id)) ids.add(id)
    await Promise.all([...ids].map((id) => this.reload(id)))
  }

  private schedule(id: string): void {
    // Coalesce the bursts one atomic write makes (temporary file, rename).
    if (this.scheduled.has(id)) return
    this.scheduled.add(id)
    setImmediate(() => {
      this.scheduled.delete(id)
      void this.reload(id).catch((error) => this.log.warn(`metadata: reloading ${id} failed: ${messageOf(error)}`))
    })
  }

  private put(entry: CachedInstance): void {
    this.drop(entry.id)
    this.byId.set(entry.id, entry)
    this.byToken.set(entry.token, entry)
    if (entry.address) {
      const set = this.byAddress.get(entry.address) ?? new Set()
      set.add(entry)
      this.byAddress.set(entry.address, set)
    }
  }

  private drop(id: string): void {
    const old = this.byId.get(id)
    if (!old) return
    this.byId.delete(id)
    if (this.byToken.get(old.token) === old) this.byToken.delete(old.token)
    if (old.address) {
      const set = this.byAddress.get(old.address)
      set?.delete(old)
      if (set?.size === 0) this.byAddress.delete(old.address)
    }
  }
}
