// Images for the qemu backend: a local path (or file: URL) is used where it
// is; an http(s) URL is downloaded once into the cache, keyed by a hash of the
// URL, verified against its sha256 when one is given, and concurrent requests
// share the download. (ec's libvirt backend has a fuller store of its own — a
// shared image service in @ec/plugin-api is where both belong.)
import {createHash, randomBytes} from 'node:crypto'
import {createReadStream, createWriteStream} from 'node:fs'
import {mkdir, readdir, readFile, rename, rm, stat, writeFile} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import {Readable, Transform} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import type {ReadableStream as WebReadableStream} from 'node:stream/web'
import {fileURLToPath} from 'node:url'

import type {ImageInfo, ImageSource, ProgressReporter} from '@ec/plugin-api'

import {messageOf, QemuBackendError} from './errors.js'
import {qemuImg, ToolFailedError} from './tools.js'

export interface CacheRecord {
  url: string
  sha256: string
  bytes: number
}

export class ImageCache {
  private readonly downloads = new Map<string, Promise<CacheRecord>>()

  constructor(readonly dir: string) {}

  async ensure(source: ImageSource, report: ProgressReporter, signal?: AbortSignal): Promise<ImageInfo> {
    signal?.throwIfAborted()
    const url = source.url
    if (source.path || url?.startsWith('file:')) {
      const path = source.path ? resolve(source.path) : fileURLToPath(url!)
      const info = await describe(source.ref, path)
      if (source.sha256) {
        const actual = await sha256Of(path)
        if (actual !== source.sha256.toLowerCase()) throw new QemuBackendError('config', `image file ${path} has sha256 ${actual}, not the expected ${source.sha256}; check the checksum or the file`)
        info.sha256 = actual
      }

      return info
    }

    if (!url || !/^https?:\/\//i.test(url)) throw new QemuBackendError('config', `image ${source.ref} is neither an http(s) URL nor a file; give a URL or a path`)
    let record = await this.record(url)
    if (!record) {
      report({phase: 'image', percent: 0, message: `downloading ${url}`})
      let download = this.downloads.get(url)
      if (!download) {
        download = this.download(url, report, signal).finally(() => this.downloads.delete(url))
        this.downloads.set(url, download)
      }

      record = await download
    }

    if (source.sha256 && record.sha256 !== source.sha256.toLowerCase()) {
      throw new QemuBackendError('config', `${url} has sha256 ${record.sha256}, not the expected ${source.sha256}; check the image's checksum or URL (the cached copy is ${this.pathFor(url)})`)
    }

    report({phase: 'image', percent: 100})
    return {...(await describe(source.ref, this.pathFor(url))), sha256: record.sha256}
  }

  pathFor(url: string): string {
    return join(this.dir, createHash('sha256').update(url).digest('hex').slice(0, 32) + '.img')
  }

  async cached(): Promise<Array<CacheRecord & {path: string}>> {
    const entries = await readdir(this.dir).catch(() => [] as string[])
    const images = []
    for (const entry of entries.filter((e) => e.endsWith('.json'))) {
      const record = JSON.parse(await readFile(join(this.dir, entry), 'utf8')) as CacheRecord
      if (await this.record(record.url)) images.push({...record, path: this.pathFor(record.url)})
    }

    return images
  }

  async remove(url: string): Promise<void> {
    const path = this.pathFor(url)
    await rm(path.replace(/\.img$/, '.json'), {force: true})
    await rm(path, {force: true})
  }

  private async record(url: string): Promise<CacheRecord | undefined> {
    const path = this.pathFor(url)
    try {
      const record = JSON.parse(await readFile(path.replace(/\.img$/, '.json'), 'utf8')) as CacheRecord
      await stat(path)
      return record.url === url ? record : undefined
    } catch {
      return undefined
    }
  }

  /** Streamed to a temporary file, hashed on the way, renamed into place; the record is written last. */
  private async download(url: string, report: ProgressReporter, signal?: AbortSignal): Promise<CacheRecord> {
    await mkdir(this.dir, {recursive: true})
    const path = this.pathFor(url)
    let response: Response
    try {
      response = await fetch(url, {signal, redirect: 'follow'})
    } catch (error) {
      if (signal?.aborted) throw signal.reason
      throw new QemuBackendError('unavailable', `could not download ${url}: ${messageOf((error as {cause?: unknown}).cause ?? error)}`)
    }

    if (!response.ok || !response.body) {
      await response.body?.cancel()
      throw new QemuBackendError(response.status === 404 ? 'notFound' : 'unavailable', `could not download ${url}: the server answered HTTP ${response.status} ${response.statusText}`)
    }

    const total = Number(response.headers.get('content-length') ?? 0)
    const hash = createHash('sha256')
    let bytes = 0
    let percent = -1
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk)
        bytes += chunk.length
        const now = total > 0 ? Math.floor((bytes * 100) / total) : -1
        if (now !== percent && now >= 0) report({phase: 'image', percent: (percent = now), message: `downloading ${url}`})
        callback(null, chunk)
      },
    })
    const partial = `${path}.part-${randomBytes(4).toString('hex')}`
    try {
      await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), meter, createWriteStream(partial), {signal})
      await rename(partial, path)
    } catch (error) {
      await rm(partial, {force: true})
      if (signal?.aborted) throw signal.reason
      throw new QemuBackendError('unavailable', `downloading ${url} failed after ${bytes} bytes: ${messageOf(error)}`)
    }

    const record: CacheRecord = {url, sha256: hash.digest('hex'), bytes}
    const recordPath = path.replace(/\.img$/, '.json')
    await writeFile(recordPath + '.tmp', JSON.stringify(record) + '\n')
    await rename(recordPath + '.tmp', recordPath)
    return record
  }
}

/** Format and virtual size as qemu-img sees them; a file that is no disk image is refused. */
async function describe(ref: string, path: string): Promise<ImageInfo> {
  const stats = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new QemuBackendError(error.code === 'ENOENT' ? 'notFound' : 'environment', `image file ${path} cannot be read: ${error.message}`)
  })
  if (!stats.isFile()) throw new QemuBackendError('config', `image ${path} is not a file`)
  let info: {format: string; 'virtual-size': number}
  try {
    info = JSON.parse((await qemuImg(['info', '-U', '--output=json', path])).stdout)
  } catch (error) {
    if (error instanceof ToolFailedError) throw new QemuBackendError('config', `image ${path} is not a disk image qemu-img can read: ${messageOf(error)}`)
    throw error
  }

  if (info.format === 'raw' && (stats.size === 0 || stats.size % 512 !== 0)) {
    throw new QemuBackendError('config', `image ${path} is not a disk image (qemu-img sees raw data of ${stats.size} bytes, not whole 512-byte sectors)`)
  }

  return {ref, path, format: info.format, virtualSizeBytes: info['virtual-size']}
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}
