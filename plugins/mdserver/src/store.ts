// The data directory: one JSON file per published instance, <dataDir>/<id>.json,
// written atomically (temporary file, fsync, rename, fsync of the directory)
// so that neither a crash nor a reader in another process ever sees half a
// file. The agent's backend and a standalone server may both write an
// instance's file (publish vs. phone-home), so every read-modify-write holds
// the instance's lock: a mutex inside the process and a lock file across them.
import {randomBytes} from 'node:crypto'
import {mkdir, open, readdir, readFile, rename, rm, stat, unlink} from 'node:fs/promises'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import type {InstanceMetadata} from '@ec/plugin-api'

import {MetadataBackendError, messageOf} from './errors.js'

export interface PhoneHomeRecord {
  at: string
  /** What the guest said its address is, else the request's source address unless that is loopback (NAT). */
  address?: string
  hostname?: string
  /** The request's source address. */
  source?: string
  /** The guest's SSH host public keys it posted. */
  hostKeys?: string[]
}

export interface InstanceRecord {
  version: 1
  /** Unguessable, in every NoCloud URL of this instance. Kept across republishes. */
  token: string
  metadata: InstanceMetadata
  publishedAt: string
  updatedAt: string
  phoneHome?: PhoneHomeRecord
}

const RECORD_SUFFIX = '.json'
// UUIDs and similar: no path separators, no leading dot, nothing a shell or a URL would mangle.
const INSTANCE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/

export function isValidInstanceId(id: string): boolean {
  return INSTANCE_ID.test(id) && !id.includes('..')
}

export function checkInstanceId(id: string): void {
  if (typeof id !== 'string' || !isValidInstanceId(id)) {
    throw new MetadataBackendError('usage', `instance id ${JSON.stringify(id)} cannot name metadata: use letters, digits, "-", "_" and "." (at most 128)`)
  }
}

/** A new per-instance token: 256 random bits, base64url (43 characters). */
export function newToken(): string {
  return randomBytes(32).toString('base64url')
}

export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/

export function recordPath(dataDir: string, id: string): string {
  return join(dataDir, id + RECORD_SUFFIX)
}

/** The instance id a file name in the data directory stands for, if it is a record. */
export function idOfRecordFile(name: string): string | undefined {
  if (!name.endsWith(RECORD_SUFFIX) || name.startsWith('.')) return undefined
  const id = name.slice(0, -RECORD_SUFFIX.length)
  return isValidInstanceId(id) ? id : undefined
}

export async function ensureDataDir(dataDir: string): Promise<void> {
  try {
    // 0711: the hypervisor's user may reach a config drive below it, but not list the records (0600 each).
    await mkdir(dataDir, {recursive: true, mode: 0o711})
  } catch (error) {
    throw new MetadataBackendError('environment', `cannot create the metadata data directory ${dataDir}: ${messageOf(error)}; set metadata.dataDir to a writable directory`, {cause: error})
  }
}

export function parseRecord(text: string): InstanceRecord | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }

  const r = value as Partial<InstanceRecord> | null
  if (!r || r.version !== 1 || typeof r.token !== 'string' || !TOKEN_PATTERN.test(r.token)) return undefined
  const m = r.metadata as Partial<InstanceMetadata> | undefined
  if (!m || typeof m.instanceId !== 'string' || typeof m.hostname !== 'string' || !Array.isArray(m.publicKeys)) return undefined
  return r as InstanceRecord
}

/** The record, or undefined when there is none. A corrupt file is an error that names it. */
export async function readRecord(dataDir: string, id: string): Promise<InstanceRecord | undefined> {
  const file = recordPath(dataDir, id)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new MetadataBackendError('environment', `cannot read ${file}: ${messageOf(error)}`, {cause: error})
  }

  const record = parseRecord(text)
  if (!record) throw new MetadataBackendError('failure', `${file} is not an ec metadata record; remove it and publish the instance again`)
  return record
}

export async function writeRecord(dataDir: string, record: InstanceRecord): Promise<void> {
  const id = record.metadata.instanceId
  await writeFileAtomic(dataDir, id + RECORD_SUFFIX, JSON.stringify(record, null, 2) + '\n')
}

export async function removeRecord(dataDir: string, id: string): Promise<void> {
  await rm(recordPath(dataDir, id), {force: true})
  await syncDir(dataDir)
}

export async function listRecordIds(dataDir: string): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(dataDir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }

  return names.map((n) => idOfRecordFile(n)).filter((id): id is string => id !== undefined)
}

/** mtime and size of a record file, to tell whether it changed since it was read. */
export async function recordStamp(dataDir: string, id: string): Promise<string | undefined> {
  try {
    const s = await stat(recordPath(dataDir, id))
    return `${s.mtimeMs}:${s.size}:${s.ino}`
  } catch {
    return undefined
  }
}

export async function writeFileAtomic(dir: string, name: string, contents: string | Buffer): Promise<void> {
  const target = join(dir, name)
  const temporary = join(dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  try {
    const handle = await open(temporary, 'w', 0o600)
    try {
      await handle.writeFile(contents)
      await handle.sync()
    } finally {
      await handle.close()
    }

    await rename(temporary, target)
  } catch (error) {
    await rm(temporary, {force: true}).catch(() => undefined)
    throw new MetadataBackendError('environment', `cannot write ${target}: ${messageOf(error)}`, {cause: error})
  }

  await syncDir(dir)
}

async function syncDir(dir: string): Promise<void> {
  // Makes the rename (or removal) itself durable. Some filesystems refuse: not fatal.
  try {
    const handle = await open(dir, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {
    // best effort
  }
}

// ---- locking ---------------------------------------------------------------

const inProcess = new Map<string, Promise<unknown>>()
const STALE_LOCK_MS = 10_000
const LOCK_WAIT_MS = 5000

/**
 * Run `work` holding the instance's lock: first a promise chain for this
 * process, then `.<id>.lock` (created exclusively) for other processes. A lock
 * file older than 10 s belongs to a process that died holding it and is taken over.
 */
export async function withInstanceLock<T>(dataDir: string, id: string, work: () => Promise<T>): Promise<T> {
  return serialized(dataDir, id, () => withLockFile(dataDir, id, work))
}

/** Run `work` after every earlier piece of work on the same instance in this process. */
export async function serialized<T>(dataDir: string, id: string, work: () => Promise<T>): Promise<T> {
  const key = join(dataDir, id)
  const previous = inProcess.get(key) ?? Promise.resolve()
  const run = previous.catch(() => undefined).then(work)
  const tail = run.catch(() => undefined)
  inProcess.set(key, tail)
  try {
    return await run
  } finally {
    if (inProcess.get(key) === tail) inProcess.delete(key)
  }
}

async function withLockFile<T>(dataDir: string, id: string, work: () => Promise<T>): Promise<T> {
  const lock = join(dataDir, `.${id}.lock`)
  const deadline = Date.now() + LOCK_WAIT_MS
  for (;;) {
    try {
      const handle = await open(lock, 'wx', 0o600)
      await handle.writeFile(String(process.pid))
      await handle.close()
      break
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT' && Date.now() < deadline) {
        await ensureDataDir(dataDir)
        continue
      }

      if (code !== 'EEXIST') throw new MetadataBackendError('environment', `cannot lock ${lock}: ${messageOf(error)}`, {cause: error})
      const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0)
      if (age > STALE_LOCK_MS) {
        await unlink(lock).catch(() => undefined)
        continue
      }

      if (Date.now() > deadline) {
        throw new MetadataBackendError('conflict', `the metadata of instance ${id} is locked by another process (${lock}); try again`)
      }

      await sleep(5 + Math.random() * 15)
    }
  }

  try {
    return await work()
  } finally {
    await unlink(lock).catch(() => undefined)
  }
}
