// The three views `ec audit` compares: what Placement holds (per ec host and
// consumer), what etcd records (instances, names, assignments, liveness) and
// what each live host's hypervisor reports (its guest inventory key).
//
// Order matters: allocations are read before the records. A create writes its
// record before it claims and every teardown releases before it removes the
// record, so an allocation seen here had a record at least until the records
// were read; a consumer that then has none is re-read once (confirm()) to tell
// an orphan from a delete that finished in between.
import {type GroupRecord, groupKeys} from '../groups/model.js'
import {parseGroup} from '../groups/store.js'
import {hostIdOfAliveKey, instanceIdOfAssignmentKey} from '../instances/keys.js'
import type {GuestInventory, InstanceRecord} from '../instances/model.js'
import type {Versioned} from '../instances/store.js'
import type {HostUsage, SchedulerBackend, TransportBackend} from '@ec/plugin-api'

/** Resource class → amount. */
export type Resources = Record<string, number>

export interface KeyRef {
  key: string
  modRevision: string
}

export interface NameKey extends KeyRef {
  name: string
  /** The instance id the name points to. */
  id: string
}

export interface AssignmentKey extends KeyRef {
  hostId: string
  id: string
}

export interface AuditViews {
  hosts: HostUsage[]
  /** Consumer id → host id → what it holds there (from each ec host's provider tree). */
  held: Map<string, Map<string, Resources>>
  records: Map<string, Versioned<InstanceRecord>>
  names: NameKey[]
  assignments: AssignmentKey[]
  /** Hosts whose agent's liveness key exists. */
  alive: Set<string>
  /** Guest inventories of live hosts, by host id. */
  guests: Map<string, GuestInventory>
  /** Records and guest reports that are not the JSON ec writes. */
  unreadable: KeyRef[]
  /** Server groups (groups/<name>) and their members. */
  groups?: Array<KeyRef & {group: GroupRecord}>
}

export interface AuditSources {
  scheduler: SchedulerBackend
  transport: TransportBackend
}

const NAME_KEY = /^names\/(.+)$/
const GUESTS_KEY = /^hosts\/([^/]+)\/guests$/

export async function gatherViews({scheduler, transport}: AuditSources): Promise<AuditViews> {
  const hosts = await scheduler.listHosts()
  const held = new Map<string, Map<string, Resources>>()
  const perHost = await Promise.all(hosts.map(async (host) => ({host, byConsumer: await scheduler.hostAllocations(host.id)})))
  for (const {host, byConsumer} of perHost) {
    for (const [consumer, resources] of Object.entries(byConsumer)) {
      if (!held.has(consumer)) held.set(consumer, new Map())
      held.get(consumer)!.set(host.id, resources)
    }
  }

  // One listing of the whole prefix: records, names and host keys from the same revision.
  const {items} = await transport.list('')
  const views: AuditViews = {hosts, held, records: new Map(), names: [], assignments: [], alive: new Set(), guests: new Map(), unreadable: [], groups: []}
  const inventories = new Map<string, GuestInventory>()
  for (const kv of items) {
    const ref = {key: kv.key, modRevision: kv.modRevision}
    if (kv.key.startsWith('instances/')) {
      const record = parseOrUndefined<InstanceRecord>(kv.value, (r) => typeof r.id === 'string' && typeof r.state === 'string' && r.spec !== undefined)
      if (record) views.records.set(record.id, {value: record, modRevision: kv.modRevision})
      else views.unreadable.push(ref)
      continue
    }

    if (kv.key.startsWith(groupKeys.groups())) {
      const group = parseGroup(kv.value)
      if (group) views.groups!.push({...ref, group})
      else views.unreadable.push(ref)
      continue
    }

    const name = NAME_KEY.exec(kv.key)?.[1]
    if (name !== undefined) {
      views.names.push({...ref, name, id: kv.value})
      continue
    }

    const assigned = instanceIdOfAssignmentKey(kv.key)
    if (assigned) {
      views.assignments.push({...ref, hostId: kv.key.split('/')[1], id: assigned})
      continue
    }

    const aliveHost = hostIdOfAliveKey(kv.key)
    if (aliveHost) {
      views.alive.add(aliveHost)
      continue
    }

    const guestsHost = GUESTS_KEY.exec(kv.key)?.[1]
    if (!guestsHost) continue
    const inventory = parseOrUndefined<GuestInventory>(kv.value, (g) => Array.isArray(g.guests))
    if (inventory) inventories.set(guestsHost, inventory)
    else views.unreadable.push(ref)
  }

  for (const [hostId, inventory] of inventories) if (views.alive.has(hostId)) views.guests.set(hostId, inventory)
  return views
}

/**
 * The same views with these consumers' allocations read again now, after the
 * records: what a finding about them must still show to be real.
 */
export async function rereadAllocations(views: AuditViews, consumers: Iterable<string>, scheduler: SchedulerBackend): Promise<AuditViews> {
  const held = new Map(views.held)
  await Promise.all(
    [...new Set(consumers)].map(async (consumer) => {
      const byHost = await scheduler.allocations(consumer)
      const entries = Object.entries(byHost).filter(([, resources]) => Object.keys(resources).length > 0)
      if (entries.length === 0) held.delete(consumer)
      else held.set(consumer, new Map(entries))
    }),
  )
  return {...views, held}
}

/** The parsed value if it is JSON of the expected shape; a damaged key must not stop the audit. */
function parseOrUndefined<T>(text: string, looksRight: (value: T) => boolean): T | undefined {
  try {
    const value = JSON.parse(text) as T
    return value !== null && typeof value === 'object' && looksRight(value) ? value : undefined
  } catch {
    return undefined
  }
}
