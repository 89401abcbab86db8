// Where a shared storage's disks go. Placement knows the storage as a sharing
// provider (capacity, usage, aggregates) but has no place for a path, so the
// path lives in the transport under `storage/<provider id>`: every agent
// already reads the transport, and learns from its instance's allocation which
// provider gave the disk. No path means the hosts keep those disks where they
// keep their own (libvirt.instancesDir), e.g. when the storage is mounted there.
import {isAbsolute, normalize} from 'node:path'

import {EcError} from '../errors.js'
import {keys} from '../instances/keys.js'
import type {TransportBackend} from '@ec/plugin-api'

export interface StorageRecord {
  id: string
  name: string
  /** The directory on every member host that the disks go in. */
  path?: string
  createdAt: string
}

/** An absolute directory, written plainly; returned without a trailing "/". */
export function checkStoragePath(path: string): string {
  if (!isAbsolute(path) || [...path].some((c) => c.charCodeAt(0) < 0x20)) {
    throw new EcError('usage', `--path "${path}" is not an absolute directory; give the directory every member host reaches the storage at, e.g. /srv/shared-disks`)
  }

  const plain = normalize(path).replace(/(.)\/+$/, '$1')
  if (plain === '/') throw new EcError('usage', '--path / is not a storage directory; give the directory the storage is mounted at')
  return plain
}

export async function readStorageRecord(transport: TransportBackend, id: string): Promise<StorageRecord | undefined> {
  const kv = await transport.get(keys.storage(id))
  return kv ? (JSON.parse(kv.value) as StorageRecord) : undefined
}

export async function listStorageRecords(transport: TransportBackend): Promise<Map<string, StorageRecord>> {
  const {items} = await transport.list(keys.storages())
  const records = new Map<string, StorageRecord>()
  for (const kv of items) {
    const record = JSON.parse(kv.value) as StorageRecord
    records.set(record.id, record)
  }

  return records
}

/** Written before the provider exists, so no disk is ever placed on storage whose path is unknown. */
export async function createStorageRecord(transport: TransportBackend, record: StorageRecord): Promise<void> {
  const {ok} = await transport.commit([{key: keys.storage(record.id), modRevision: null}], [{op: 'put', key: keys.storage(record.id), value: JSON.stringify(record)}])
  if (!ok) throw new EcError('conflict', `a storage record with id ${record.id} exists already; try again`)
}

export async function deleteStorageRecord(transport: TransportBackend, id: string): Promise<void> {
  await transport.commit([], [{op: 'delete', key: keys.storage(id)}])
}
