// Shared storage as ec shows it: the scheduler's view (capacity, usage,
// aggregates, member hosts) joined with the transport's record (the path).
import type {SchedulerBackend, StorageDetail} from '@ec/plugin-api'
import {EcError} from '../errors.js'
import type {StorageRecord} from './records.js'

export interface StorageView extends StorageDetail {
  /** The directory the disks go in on member hosts; absent: where each host keeps its own disks. */
  path?: string
  /** DISK_GB: what may be allocated, and what is. */
  capacityGb: number
  usedGb: number
}

type StorageScheduler = Required<Pick<SchedulerBackend, 'addStorage' | 'listStorage' | 'describeStorage' | 'removeStorage'>>

/** The scheduler's storage operations, or a usage error naming the backend that has none. */
export function storageScheduler(scheduler: SchedulerBackend, name: string): StorageScheduler {
  const {addStorage, listStorage, describeStorage, removeStorage} = scheduler
  if (!addStorage || !listStorage || !describeStorage || !removeStorage) {
    throw new EcError('usage', `the scheduler backend "${name}" has no shared storage; use the placement backend`)
  }

  return {
    addStorage: addStorage.bind(scheduler),
    listStorage: listStorage.bind(scheduler),
    describeStorage: describeStorage.bind(scheduler),
    removeStorage: removeStorage.bind(scheduler),
  }
}

export function storageView(detail: StorageDetail, record: StorageRecord | undefined): StorageView {
  const disk = detail.inventory.find((item) => item.resourceClass === 'DISK_GB')
  const capacityGb = disk ? Math.floor((disk.total - disk.reserved) * disk.allocationRatio) : 0
  return {...detail, ...(record?.path ? {path: record.path} : {}), capacityGb, usedGb: detail.usage.DISK_GB ?? 0}
}

export function describeStorageView(storage: StorageView): string {
  return [
    `shared storage ${storage.name} (${storage.id})`,
    `  disk: ${storage.usedGb} of ${storage.capacityGb} GB used`,
    `  path: ${storage.path ?? "- (each host's own disk directory)"}`,
    `  aggregates: ${storage.aggregates.join(', ') || '-'}`,
    `  members: ${storage.members.map((m) => m.name).join(', ') || '-'}`,
    `  traits: ${storage.traits.join(', ') || '-'}`,
  ].join('\n')
}
