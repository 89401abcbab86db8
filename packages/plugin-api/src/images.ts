// @ec/plugin-api/images: the host's image service, the same for every
// hypervisor. A local path (or file: URL) is checked where it is; an http(s)
// URL is downloaded once into the cache directory, keyed by a hash of the
// URL, verified against its sha256, and every concurrent request for it waits
// on that one download (which stops when the last waiter gives up). A
// backend's ensureImage(), listImages() and pruneImages() are this store's
// ensure(), cachedImages() and remove(), plus what only the backend knows:
// which cached images its guests' disks are overlays of.
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {mkdir, readdir, readFile, rename, rm, stat, writeFile} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {describeProgress, download} from './download.js'
import {EcError, messageOf} from './errors.js'
import type {CachedImage, ImageInfo, ImageSource, ProgressReporter} from './hypervisor.js'
import {imageInfo} from './qemu-img.js'
import {isToolFailure} from './tools.js'

export {describeProgress, download, type DownloadOptions, type Downloaded, type DownloadProgress} from './download.js'

/** What the cache records beside each downloaded image. */
export interface CacheRecord {
  url: string
  sha256: string
  bytes: number
}

interface SharedDownload {
  done: Promise<CacheRecord>
  reporters: Set<ProgressReporter>
  /** Callers still waiting; when the last one gives up, the download stops. */
  waiting: number
  controller: AbortController
}

/** What one version of an image file was found to be; the key changes when the file does. */
interface Inspected {
  key: string
  info: Promise<Omit<ImageInfo, 'ref'>>
  sha256?: Promise<string>
}

export class ImageStore {
  private readonly downloads = new Map<string, SharedDownload>()
  // Builds from one image ask about it again and again: qemu-img and hashing run once per file version.
  private readonly inspected = new Map<string, Inspected>()

  constructor(readonly cacheDir: string) {}

  async ensure(source: ImageSource, report: ProgressReporter, signal?: AbortSignal): Promise<ImageInfo> {
    signal?.throwIfAborted()
    if (source.path) return this.local(source, resolve(source.path))
    if (source.url?.startsWith('file:')) return this.local(source, fileURLToPath(source.url))
    if (source.url && /^https?:\/\//i.test(source.url)) return this.cached(source, source.url, report, signal)
    if (source.url) throw new EcError('config', `image ${source.ref}: ${source.url} is neither an http(s) URL nor a file; give a URL or a path`)
    throw new EcError('config', `image ${source.ref} has neither a path nor a URL`)
  }

  /** Every completed download in the cache, as its record says. */
  async cachedImages(): Promise<Array<CacheRecord & {path: string}>> {
    const entries = await readdir(this.cacheDir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [] as string[]
      throw error
    })
    const images: Array<CacheRecord & {path: string}> = []
    for (const entry of entries.filter((e) => e.endsWith('.json'))) {
      const record = await this.readRecord(JSON.parse(await readFile(join(this.cacheDir, entry), 'utf8')).url).catch(() => undefined)
      if (record) images.push({...record, path: this.pathFor(record.url)})
    }

    return images
  }

  /** The cache as HypervisorBackend.listImages() reports it; `inUse`: the images guests' disks are overlays of (backingFiles()). */
  async list(inUse: ReadonlySet<string>): Promise<CachedImage[]> {
    return (await this.cachedImages()).map(({url, path, bytes, sha256}) => ({url, path, bytes, sha256, inUse: inUse.has(path)}))
  }

  /** HypervisorBackend.pruneImages(): remove the cached images no guest uses; what was removed. */
  async prune(inUse: ReadonlySet<string>): Promise<CachedImage[]> {
    const unused = (await this.list(inUse)).filter((image) => !image.inUse)
    for (const image of unused) await this.remove(image.url)
    return unused
  }

  /** Remove a cached image and its record. */
  async remove(url: string): Promise<void> {
    const path = this.pathFor(url)
    await rm(path.replace(/\.img$/, '.json'), {force: true})
    await rm(path, {force: true})
    this.inspected.delete(path)
  }

  /** Where the cache keeps the image downloaded from `url`. */
  pathFor(url: string): string {
    return join(this.cacheDir, cacheKey(url) + '.img')
  }

  private async local(source: ImageSource, path: string): Promise<ImageInfo> {
    const stats = await stat(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') throw new EcError('notFound', `image file ${path} does not exist`)
      throw new EcError('environment', `cannot read image file ${path}: ${error.message}`)
    })
    if (!stats.isFile()) throw new EcError('config', `image ${path} is not a file`)
    const info = await this.describe(source.ref, path)
    if (source.sha256) {
      const actual = await this.sha256Of(path)
      if (actual !== source.sha256.toLowerCase()) {
        throw new EcError('config', `image file ${path} has sha256 ${actual}, not the expected ${source.sha256}; check the checksum or the file`)
      }

      info.sha256 = actual
    }

    return info
  }

  private async cached(source: ImageSource, url: string, report: ProgressReporter, signal?: AbortSignal): Promise<ImageInfo> {
    const path = this.pathFor(url)
    const wanted = source.sha256?.toLowerCase()
    let record = await this.readRecord(url)
    if (record && wanted && record.sha256 !== wanted) {
      // Overlays of running guests read the cached file: it is never replaced under them.
      throw new EcError(
        'conflict',
        `the cached copy of ${url} (${path}) has sha256 ${record.sha256}, not the expected ${source.sha256}; once no guest uses it, delete it to download the image again`,
      )
    }

    if (!record) {
      report({phase: 'image', percent: 0, message: `downloading ${url}`})
      record = await this.shared(url, wanted, report, signal)
      // A download another caller started was checked against that caller's checksum.
      if (wanted && record.sha256 !== wanted) {
        throw new EcError('config', `${url} has sha256 ${record.sha256}, not the expected ${source.sha256}; check the image's checksum or URL`)
      }
    }

    report({phase: 'image', percent: 100})
    const info = await this.describe(source.ref, path)
    info.sha256 = record.sha256
    return info
  }

  private async inspect(path: string): Promise<Inspected> {
    const {ino, size, mtimeMs} = await stat(path)
    const key = `${ino}:${size}:${mtimeMs}`
    let entry = this.inspected.get(path)
    if (entry?.key !== key) {
      entry = {key, info: describe(path)}
      entry.info.catch(() => this.inspected.delete(path)) // a failure is not remembered
      this.inspected.set(path, entry)
    }

    return entry
  }

  private async describe(ref: string, path: string): Promise<ImageInfo> {
    return {ref, ...(await (await this.inspect(path)).info)}
  }

  private async sha256Of(path: string): Promise<string> {
    const entry = await this.inspect(path)
    entry.sha256 ??= sha256Of(path)
    return entry.sha256
  }

  private shared(url: string, sha256: string | undefined, report: ProgressReporter, signal?: AbortSignal): Promise<CacheRecord> {
    const key = cacheKey(url)
    let entry = this.downloads.get(key)
    if (!entry) {
      const started: SharedDownload = {reporters: new Set(), waiting: 0, controller: new AbortController(), done: undefined!}
      started.done = this.fetch(url, sha256, started).finally(() => {
        if (this.downloads.get(key) === started) this.downloads.delete(key)
      })
      started.done.catch(() => {}) // each waiter handles the failure; an abandoned one must not go unhandled
      this.downloads.set(key, started)
      entry = started
    }

    const joined = entry
    joined.reporters.add(report)
    joined.waiting++
    return new Promise((resolve, reject) => {
      const leave = () => {
        joined.reporters.delete(report)
        signal?.removeEventListener('abort', onAbort)
      }

      const onAbort = () => {
        leave()
        reject(signal!.reason)
        if (--joined.waiting === 0) {
          this.downloads.delete(key) // nobody may join a download that is being stopped
          joined.controller.abort(signal!.reason)
        }
      }

      signal?.addEventListener('abort', onAbort, {once: true})
      joined.done.then(
        (record) => {
          leave()
          resolve(record)
        },
        (error: unknown) => {
          leave()
          reject(error)
        },
      )
    })
  }

  private async fetch(url: string, sha256: string | undefined, entry: SharedDownload): Promise<CacheRecord> {
    await mkdir(this.cacheDir, {recursive: true})
    const path = this.pathFor(url)
    const recordPath = path.replace(/\.img$/, '.json')
    // The record is written last: an image without one (a crash in between) is downloaded again.
    const downloaded = await download(url, path, {
      sha256,
      signal: entry.controller.signal,
      onProgress(progress) {
        const message = `downloading: ${describeProgress(progress)}`
        for (const reporter of entry.reporters) reporter({phase: 'image', percent: progress.percent, message})
      },
    })
    const record: CacheRecord = {url, ...downloaded}
    await writeFile(recordPath + '.tmp', JSON.stringify(record) + '\n')
    await rename(recordPath + '.tmp', recordPath)
    return record
  }

  private async readRecord(url: string): Promise<CacheRecord | undefined> {
    const path = this.pathFor(url)
    try {
      const record = JSON.parse(await readFile(path.replace(/\.img$/, '.json'), 'utf8')) as CacheRecord
      await stat(path)
      return record.url === url ? record : undefined
    } catch {
      return undefined
    }
  }
}

function cacheKey(url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 32)
}

/**
 * Format and virtual size as qemu-img sees them. qemu-img calls any file a
 * raw image, so an empty raw file or one whose size is not whole 512-byte
 * sectors is taken for what it most likely is: not a disk image at all.
 */
async function describe(path: string): Promise<Omit<ImageInfo, 'ref'>> {
  let info
  try {
    info = await imageInfo(path)
  } catch (error) {
    if (isToolFailure(error)) {
      throw new EcError('config', `image ${path} is not a disk image qemu-img can read: ${messageOf(error)}`, {cause: error})
    }

    throw error
  }

  // qemu-img rounds a raw file's virtual size up to whole sectors: the file's own size tells.
  const {size} = await stat(path)
  if (info.format === 'raw' && (size === 0 || size % 512 !== 0)) {
    throw new EcError('config', `image ${path} is not a disk image (qemu-img sees raw data of ${size} bytes, not whole 512-byte sectors)`)
  }

  return {path, format: info.format, virtualSizeBytes: info.virtualSizeBytes}
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}
