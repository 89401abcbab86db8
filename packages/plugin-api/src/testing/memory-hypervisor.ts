// An in-memory HypervisorBackend: images really are fetched (http(s) URLs
// with fetch, paths read from disk) and checked against their sha256, with
// one download shared by concurrent callers; disks and guests are records in
// memory. For fast unit tests of core flows; it passes hypervisorContract.
import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'

import {EcError, messageOf} from '../errors.js'
import type {
  CachedImage,
  GuestSpec,
  GuestSummary,
  HostDescription,
  HypervisorBackend,
  ImageInfo,
  ImageSource,
  PreparedDisk,
  ProgressReporter,
} from '../hypervisor.js'

interface Guest {
  spec: GuestSpec
  disk?: PreparedDisk
  state: 'running' | 'shutoff'
  defined: boolean
  console: string[]
}

export interface MemoryHypervisorOptions {
  /** What describeHost() answers; by default a 4-CPU, 8 GiB, 100 GB host that can do everything. */
  host?: Partial<HostDescription>
}

export class MemoryHypervisor implements HypervisorBackend {
  private readonly images = new Map<string, CachedImage & {info: ImageInfo}>()
  private readonly downloads = new Map<string, Promise<ImageInfo>>()
  private readonly guests = new Map<string, Guest>()
  /** How many times an image was actually fetched (not found in the cache). */
  fetches = 0

  constructor(private readonly options: MemoryHypervisorOptions = {}) {}

  async describeHost(): Promise<HostDescription> {
    return {
      capacity: {vcpus: 4, memoryMb: 8192, diskGb: 100, numaNodes: []},
      traits: ['COMPUTE_IMAGE_TYPE_RAW', 'CUSTOM_EC_DISK_COPY', 'CUSTOM_EC_DISK_OVERLAY'],
      capabilities: {diskStrategies: ['overlay', 'copy'], smbios: true, cdrom: true, portForwarding: false, numaPinning: false},
      ...this.options.host,
    }
  }

  async ensureImage(source: ImageSource, report: ProgressReporter, signal?: AbortSignal): Promise<ImageInfo> {
    signal?.throwIfAborted()
    const key = source.url ?? source.path ?? source.ref
    const cached = this.images.get(key)
    if (cached) {
      if (source.sha256 && source.sha256 !== cached.sha256) throw mismatch(source, cached.sha256)
      return cached.info
    }

    let download = this.downloads.get(key)
    if (!download) {
      download = this.fetch(key, source, report).finally(() => this.downloads.delete(key))
      this.downloads.set(key, download)
    }

    return download
  }

  async prepareDisk(spec: GuestSpec, image: ImageInfo, report: ProgressReporter): Promise<PreparedDisk> {
    const strategy = spec.diskStrategy ?? 'overlay'
    const {capabilities} = await this.describeHost()
    if (!capabilities.diskStrategies.includes(strategy)) throw new EcError('config', `the memory hypervisor cannot prepare a ${strategy} disk`)
    if (image.virtualSizeBytes > spec.diskGb * 2 ** 30) {
      throw new EcError('usage', `the image is bigger (${image.virtualSizeBytes} bytes) than the ${spec.diskGb} GB disk; ask for a bigger --disk`)
    }

    report({phase: 'disk', percent: 100})
    const disk = {path: `memory://${spec.id}/disk`, format: 'raw', sizeGb: spec.diskGb}
    const guest = this.guests.get(spec.id)
    if (guest) guest.disk = disk
    else this.guests.set(spec.id, {spec, disk, state: 'shutoff', defined: false, console: []})
    return disk
  }

  async define(spec: GuestSpec, disk: PreparedDisk): Promise<void> {
    const guest = this.guests.get(spec.id)
    this.guests.set(spec.id, {spec, disk, state: guest?.state ?? 'shutoff', defined: true, console: guest?.console ?? []})
  }

  async start(id: string): Promise<void> {
    const guest = this.guests.get(id)
    if (!guest?.defined) throw new EcError('notFound', `guest ${id} is not defined; define it first`)
    if (guest.state === 'running') return
    guest.state = 'running'
    guest.console.push(`${guest.spec.name} booted`)
  }

  async destroy(id: string): Promise<void> {
    this.guests.delete(id)
  }

  async list(): Promise<GuestSummary[]> {
    return [...this.guests.entries()].map(([id, g]) => ({id, name: g.defined ? g.spec.name : '', state: g.state, defined: g.defined}))
  }

  async consoleLog(id: string): Promise<string> {
    const guest = this.guests.get(id)
    if (!guest) throw new EcError('notFound', `guest ${id} does not exist on this host`)
    return guest.console.map((line) => line + '\n').join('')
  }

  async guestAddresses(_id: string): Promise<string[]> {
    return []
  }

  async listImages(): Promise<CachedImage[]> {
    const inUse = new Set([...this.guests.values()].map((g) => g.spec.image.url ?? g.spec.image.path ?? g.spec.image.ref))
    return [...this.images.entries()].map(([key, {url, path, bytes, sha256}]) => ({url, path, bytes, sha256, inUse: inUse.has(key)}))
  }

  async pruneImages(): Promise<CachedImage[]> {
    const unused = (await this.listImages()).filter((image) => !image.inUse)
    for (const image of unused) this.images.delete(image.url)
    return unused
  }

  async close(): Promise<void> {}

  private async fetch(key: string, source: ImageSource, report: ProgressReporter): Promise<ImageInfo> {
    this.fetches++
    report({phase: 'image', percent: 0, message: `fetching ${source.ref}`})
    let bytes: Buffer
    try {
      if (source.url) {
        const response = await fetch(source.url)
        if (!response.ok) throw new Error(`HTTP ${response.status}`)
        bytes = Buffer.from(await response.arrayBuffer())
      } else {
        bytes = await readFile(source.path ?? source.ref)
      }
    } catch (error) {
      throw new EcError('notFound', `cannot fetch image ${source.ref}: ${messageOf(error)}; check --image`, {cause: error})
    }

    const sha256 = createHash('sha256').update(bytes).digest('hex')
    if (source.sha256 && source.sha256 !== sha256) throw mismatch(source, sha256)
    const info: ImageInfo = {ref: source.ref, path: `memory://images/${sha256}`, format: 'raw', virtualSizeBytes: bytes.length, sha256}
    this.images.set(key, {url: key, path: info.path, bytes: bytes.length, sha256, inUse: false, info})
    report({phase: 'image', percent: 100})
    return info
  }
}

function mismatch(source: ImageSource, actual: string): EcError {
  return new EcError('conflict', `image ${source.ref} has sha256 ${actual}, not the expected ${source.sha256}; check the checksum or the image`)
}
