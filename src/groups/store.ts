// Server groups in etcd: create, read, delete (refused while a member exists)
// and membership changes, each a compare-and-swap on the group's key. Joining
// happens in the instance's SCHEDULED transaction (see GroupPlacement).
import {randomUUID} from 'node:crypto'

import {EcError} from '../errors.js'
import type {InstanceRecord} from '../instances/model.js'
import {now} from '../instances/model.js'
import type {Extra, InstanceStore, Versioned} from '../instances/store.js'
import {quote} from '../output/escape.js'
import type {ClaimOptions, ResourceRequest, TransportBackend} from '@ec/plugin-api'
import {
  admits,
  admitsHost,
  allowedHosts,
  counts,
  describePolicy,
  type GroupPolicy,
  type GroupRecord,
  groupKeys,
  preference,
  refusalMessage,
  relevantMembers,
} from './model.js'

const MAX_CAS_ATTEMPTS = 100

export interface GroupSpec {
  name: string
  policy: GroupPolicy
  soft: boolean
  maxPerHost?: number
}

/** A group whose hard policy no longer lets this instance onto the host it claimed: release and schedule again. */
export class GroupRefused extends EcError {
  constructor(message: string) {
    super('conflict', message)
  }
}

export function parseGroup(text: string): GroupRecord | undefined {
  try {
    const value = JSON.parse(text) as GroupRecord
    return value && typeof value === 'object' && typeof value.name === 'string' && value.members && typeof value.members === 'object' ? value : undefined
  } catch {
    return undefined
  }
}

export class GroupStore {
  constructor(readonly store: InstanceStore) {}

  get transport(): TransportBackend {
    return this.store.transport
  }

  async create(spec: GroupSpec): Promise<GroupRecord> {
    const group: GroupRecord = {id: randomUUID(), ...spec, members: {}, createdAt: now()}
    if (group.maxPerHost === undefined) delete group.maxPerHost
    const key = groupKeys.group(spec.name)
    const value = JSON.stringify(group)
    const result = await this.store.commit([{key, modRevision: null}], [{op: 'put', key, value}])
    if (result.ok) return group
    // A repeat of a commit that landed is ours, byte for byte.
    const existing = await this.store.read(key)
    if (existing?.value === value) return group
    throw new EcError('conflict', `a group named ${quote(spec.name)} already exists; pick another name or delete it first`)
  }

  async get(name: string): Promise<Versioned<GroupRecord> | undefined> {
    const kv = await this.store.read(groupKeys.group(name))
    if (!kv) return undefined
    const value = parseGroup(kv.value)
    if (!value) throw new EcError('failure', `${groupKeys.group(name)} does not hold the JSON ec writes there; inspect it with etcdctl`)
    return {value, modRevision: kv.modRevision}
  }

  async require(name: string): Promise<Versioned<GroupRecord>> {
    const group = await this.get(name)
    if (!group) throw new EcError('notFound', `no group named ${quote(name)}; create it with "ec group create ${name} --policy affinity|anti-affinity" (see ec group list)`)
    return group
  }

  async list(): Promise<GroupRecord[]> {
    const {items} = await this.store.readAll(groupKeys.groups())
    return items.map((kv) => parseGroup(kv.value)).filter((g): g is GroupRecord => g !== undefined)
  }

  /** Every member's record (undefined: gone). */
  async memberRecords(group: GroupRecord): Promise<Map<string, InstanceRecord | undefined>> {
    const ids = Object.keys(group.members)
    const records = await Promise.all(ids.map(async (id) => (await this.store.get(id))?.value))
    return new Map(ids.map((id, i) => [id, records[i]]))
  }

  /**
   * Delete the group unless a member's instance still exists (reason
   * conflict). Members whose record is gone are stale and go with the group.
   * Absent is success: returns false.
   */
  async delete(name: string): Promise<boolean> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await this.get(name)
      if (!current) return false
      const records = await this.memberRecords(current.value)
      const present = [...records].filter(([, record]) => record !== undefined).map(([, record]) => `${record!.name} (${record!.state})`)
      if (present.length > 0) {
        throw new EcError(
          'conflict',
          `group ${quote(name)} still has ${present.length} member${present.length === 1 ? '' : 's'}: ${present.slice(0, 5).join(', ')}${present.length > 5 ? `, and ${present.length - 5} more` : ''}; delete them first`,
        )
      }

      const key = groupKeys.group(name)
      const {ok} = await this.store.commit([{key, modRevision: current.modRevision}], [{op: 'delete', key}])
      if (ok) return true
    }

    throw new EcError('conflict', `group ${quote(name)} changed ${MAX_CAS_ATTEMPTS} times while ec tried to delete it; try again`)
  }

  /**
   * Take members out of the group (their instance is gone), if still there.
   * `onlyIf` is asked again at each write, with the member's current record.
   */
  async removeMembers(name: string, ids: string[], onlyIf: (id: string) => Promise<boolean> = async () => true): Promise<string[]> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await this.get(name)
      if (!current) return []
      const group = current.value
      const removed: string[] = []
      for (const id of ids) {
        if (group.members[id] && (await onlyIf(id))) {
          delete group.members[id]
          removed.push(id)
        }
      }

      if (removed.length === 0) return []
      const key = groupKeys.group(name)
      const {ok} = await this.store.commit([{key, modRevision: current.modRevision}], [{op: 'put', key, value: JSON.stringify(group)}])
      if (ok) return removed
    }

    throw new EcError('conflict', `group ${quote(name)} changed ${MAX_CAS_ATTEMPTS} times while ec tried to update it; try again`)
  }
}

/**
 * Take an instance that is gone out of its group: called after its record is
 * removed. Best effort — a crash in between leaves a member whose record is
 * gone, which no policy counts, the next join drops, and `ec audit --repair`
 * removes.
 */
export async function leaveGroup(store: InstanceStore, record: InstanceRecord): Promise<void> {
  if (!record.spec.group) return
  await new GroupStore(store).removeMembers(record.spec.group, [record.id], async (id) => (await store.get(id)) === undefined).catch(() => undefined)
}

/** What one round of a create's claim may use, from the group as it is now. */
export interface GroupConstraints {
  request: ResourceRequest
  accept?: ClaimOptions['accept']
  prefer?: ClaimOptions['prefer']
}

/**
 * A create's view of its group. Which members count is read from their
 * records, and only where it decides something (a host at its maximum, an
 * affinity group's other hosts); a member found not counting is remembered,
 * since that never changes back.
 */
export class GroupPlacement {
  private readonly groups: GroupStore
  /** Members whose record was seen gone or ERROR. */
  private readonly notCounting = new Set<string>()
  /** Members whose record was seen gone: dropped from the group at the next write. */
  private readonly gone = new Set<string>()
  private last?: GroupRecord

  constructor(
    private readonly store: InstanceStore,
    readonly name: string,
  ) {
    this.groups = new GroupStore(store)
  }

  /** The group (reason notFound when it does not exist). */
  async check(): Promise<GroupRecord> {
    this.last = (await this.groups.require(this.name)).value
    return this.last
  }

  async constraints(request: ResourceRequest): Promise<GroupConstraints> {
    const group = (await this.groups.require(this.name)).value
    this.last = group
    const live = await this.liveness(relevantMembers(group))
    const allowed = allowedHosts(group, live)
    const constraints: GroupConstraints = {request, prefer: preference(group)}
    if (group.soft) return constraints
    constraints.accept = (hostId) => admits(allowed, hostId)
    // Affinity with members: ask Placement for that host alone.
    if (allowed.anchor && !request.inTree) constraints.request = {...request, inTree: allowed.anchor}
    return constraints
  }

  /**
   * The guard and write that make `record` (SCHEDULED on its host) a member,
   * from the group as it is at this moment: part of the SCHEDULED transaction.
   * Throws GroupRefused when the hard policy no longer admits the host.
   */
  async join(record: InstanceRecord): Promise<Extra> {
    const host = record.host!
    const current = await this.groups.get(this.name)
    if (!current) throw new EcError('notFound', `group ${quote(this.name)} was deleted while ${record.name} was being scheduled into it`)
    const group = current.value
    this.last = group
    const live = await this.liveness(relevantMembers(group, host.id))
    if (!admitsHost(group, host.id, live)) throw new GroupRefused(refusalMessage(group, host.name))
    for (const id of this.gone) delete group.members[id]
    group.members[record.id] = {host, name: record.name, at: now()}
    const key = groupKeys.group(this.name)
    return {guards: [{key, modRevision: current.modRevision}], ops: [{op: 'put', key, value: JSON.stringify(group)}]}
  }

  /** A scheduler's "no capacity" as the group's: it names the group and its policy. */
  explain(error: unknown): unknown {
    if ((error as {reason?: string}).reason !== 'noCapacity') return error
    const group = this.last
    const policy = group ? ` (${describePolicy(group)}, ${Object.keys(group.members).length} members)` : ''
    return new EcError('noCapacity', `no valid host for group ${quote(this.name)}${policy}: ${(error as Error).message}`, {cause: error})
  }

  private async liveness(ids: string[]): Promise<(id: string) => boolean> {
    await Promise.all(
      ids
        .filter((id) => !this.notCounting.has(id))
        .map(async (id) => {
          const record = (await this.store.get(id))?.value
          if (counts(record)) return
          this.notCounting.add(id)
          if (!record) this.gone.add(id)
        }),
    )
    return (id) => !this.notCounting.has(id)
  }
}
