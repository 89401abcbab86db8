// Downloads one URL to a file: streamed to a temporary file beside it, hashed
// on the way, and renamed into place only when complete and (if a checksum was
// given) verified — so a reader never sees a partial or wrong file.
import {createHash, randomBytes} from 'node:crypto'
import {createWriteStream} from 'node:fs'
import {rename, rm} from 'node:fs/promises'
import {Readable, Transform} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import type {ReadableStream as WebReadableStream} from 'node:stream/web'

import {EcError, messageOf} from './errors.js'

export interface DownloadOptions {
  /** Expected sha256 (hex); a mismatch fails the download and leaves nothing behind. */
  sha256?: string
  signal?: AbortSignal
  /** At each new whole percent (when the server sends a length) and at most every PROGRESS_MS otherwise. */
  onProgress?: (progress: DownloadProgress) => void
}

export interface DownloadProgress {
  bytes: number
  /** From Content-Length; undefined when the server does not say. */
  totalBytes?: number
  percent?: number
  /** Averaged since the first byte. */
  bytesPerSecond: number
}

const PROGRESS_MS = 500

/** "45.2 MB of 180.0 MB, 3.1 MB/s" */
export function describeProgress({bytes, totalBytes, bytesPerSecond}: DownloadProgress): string {
  return `${megabytes(bytes)}${totalBytes ? ` of ${megabytes(totalBytes)}` : ''}, ${megabytes(bytesPerSecond)}/s`
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`
}

export interface Downloaded {
  sha256: string
  bytes: number
}

export async function download(url: string, path: string, options: DownloadOptions = {}): Promise<Downloaded> {
  const {signal, onProgress} = options
  let response: Response
  try {
    response = await fetch(url, {signal, redirect: 'follow'})
  } catch (error) {
    if (signal?.aborted) throw signal.reason
    const cause = (error as {cause?: unknown}).cause
    throw new EcError('unavailable', `could not download ${url}: ${messageOf(cause ?? error)}`, {cause: error})
  }

  if (!response.ok || !response.body) {
    await response.body?.cancel()
    const reason = response.status === 404 || response.status === 410 ? 'notFound' : 'unavailable'
    throw new EcError(reason, `could not download ${url}: the server answered HTTP ${response.status} ${response.statusText}`)
  }

  const total = Number(response.headers.get('content-length') ?? 0)
  const hash = createHash('sha256')
  let bytes = 0
  let lastPercent = -1
  let lastReport = 0
  let firstByteAt = 0
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk)
      const at = Date.now()
      firstByteAt ||= at
      bytes += chunk.length
      if (onProgress) {
        const percent = total > 0 ? Math.min(100, Math.floor((bytes * 100) / total)) : undefined
        if ((percent !== undefined && percent !== lastPercent) || at - lastReport >= PROGRESS_MS) {
          lastPercent = percent ?? lastPercent
          lastReport = at
          const seconds = Math.max((at - firstByteAt) / 1000, 0.001)
          onProgress({bytes, totalBytes: total > 0 ? total : undefined, percent, bytesPerSecond: Math.round(bytes / seconds)})
        }
      }

      callback(null, chunk)
    },
  })

  const partial = `${path}.part-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), meter, createWriteStream(partial), {signal})
    const sha256 = hash.digest('hex')
    if (options.sha256 && options.sha256.toLowerCase() !== sha256) {
      throw new EcError('config', `${url} has sha256 ${sha256}, not the expected ${options.sha256}; check the image's checksum or URL`)
    }

    await rename(partial, path)
    return {sha256, bytes}
  } catch (error) {
    await rm(partial, {force: true})
    if (signal?.aborted) throw signal.reason
    if (error instanceof EcError) throw error
    if (['ENOSPC', 'EACCES', 'EROFS', 'EDQUOT'].includes((error as NodeJS.ErrnoException).code ?? '')) {
      throw new EcError('environment', `could not store ${url} at ${path}: ${messageOf(error)}`, {cause: error})
    }

    throw new EcError('unavailable', `downloading ${url} failed after ${bytes} bytes: ${messageOf(error)}`, {cause: error})
  }
}
