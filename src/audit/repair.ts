// `ec audit --repair`: fix what can be fixed without a host's help, each fix
// re-checking its finding at the moment it writes (compare-and-swap on the
// record or key, liveness guards), so it is idempotent and safe while creates,
// deletes and agents are at work. Guests are the hosts' business: an agent
// removes a guest without assignment, and the guest of an ERROR instance.
import {EcError} from '../errors.js'
import {groupKeys} from '../groups/model.js'
import {GroupStore} from '../groups/store.js'
import {keys} from '../instances/keys.js'
import {type InstanceRecord, type InstanceState, now, withoutClaim} from '../instances/model.js'
import type {InstanceStore} from '../instances/store.js'
import type {SchedulerBackend} from '@ec/plugin-api'
import {deleteInstance, type DeleteOptions} from '../scheduling/delete.js'
import type {CheckOptions, Finding, FindingKind} from './findings.js'

export interface Repair {
  kind: FindingKind
  id?: string
  host?: string
  key?: string
  /** One line: what was done. */
  action: string
}

export interface RepairContext {
  store: InstanceStore
  scheduler: SchedulerBackend
  check: CheckOptions
  /** For deletes of records on hosts that came back meanwhile: how long a live host may take. */
  deleteTimeoutSeconds: number
}

type Fixer = (finding: Finding, context: RepairContext) => Promise<string | undefined>

/** What each repairable kind does; a fixer returns what it did, or undefined when the finding no longer held. */
const FIXERS: Partial<Record<FindingKind, Fixer>> = {
  async 'allocation-without-record'({id}, {store, scheduler}) {
    if (await store.get(id!)) return undefined
    await scheduler.release(id!)
    return `released the allocations of consumer ${id}, which had no record`
  },

  async 'error-holds-allocation'({id}, {store, scheduler}) {
    const current = await store.get(id!)
    if (current?.value.state !== 'ERROR') return undefined
    await scheduler.release(id!)
    await store.update(id!, (r) => (r.state === 'ERROR' && r.allocations ? withoutClaim(r) : undefined))
    return `released the allocations of ${current.value.name}, which is ERROR`
  },

  async 'stale-pending'({id}, context) {
    const outcome = await deleteInstance(id!, {
      ...deleteOptions(context),
      onlyIf: (r) => r.state === 'PENDING' && r.scheduling !== undefined && Date.parse(r.scheduling.deadline) < Date.now(),
    })
    return outcome === 'deleted' ? `deleted stale PENDING ${id} (its allocations released first, then its record and name)` : undefined
  },

  async 'orphan-name'({key}, {store}) {
    const orphan = async (id: string) => (await store.get(id))?.value.name !== key!.slice('names/'.length)
    return (await deleteKeyIfOrphan(store, key!, orphan)) ? `deleted ${key}, which pointed to no record of that name` : undefined
  },

  async 'orphan-assignment'({key, id}, {store}) {
    const orphan = async () => (await store.get(id!)) === undefined
    return (await deleteKeyIfOrphan(store, key!, orphan)) ? `deleted ${key}, which pointed to no record` : undefined
  },

  async 'stale-group-member'({id, key}, {store}) {
    const name = key!.slice(groupKeys.groups().length)
    const removed = await new GroupStore(store).removeMembers(name, [id!], async (member) => (await store.get(member)) === undefined)
    return removed.length > 0 ? `removed ${id} from group ${name}: its instance is gone` : undefined
  },

  async 'record-without-allocation'({id}, {store, scheduler}) {
    if (Object.keys(await scheduler.allocations(id!)).length > 0) return undefined
    const failed = await failRecord(store, id!, ['SCHEDULED', 'BUILDING', 'ACTIVE'], 'audit: it held no allocation, so its guest may not run')
    return failed ? `failed ${failed.name} to ERROR: it held no allocation (its host removes the guest)` : undefined
  },

  async 'stuck-instance'({id}, context) {
    const current = await context.store.get(id!)
    if (!current) return undefined
    if (current.value.state === 'DELETING') {
      const outcome = await deleteInstance(id!, {...deleteOptions(context), onlyIf: (r) => r.state === 'DELETING'})
      return outcome === 'deleted' || outcome === 'deleted-host-down'
        ? `finished deleting ${current.value.name}: allocations released, keys removed (its host removes the guest when it returns)`
        : undefined
    }

    const host = current.value.host
    if (host && (await context.store.transport.get(keys.alive(host.id)))) return undefined // back: its agent acts
    const failed = await failRecord(context.store, id!, ['SCHEDULED', 'BUILDING'], `audit: its host was down for more than ${context.check.stuckAfterSeconds} s`, true)
    if (!failed) return undefined
    await context.scheduler.release(id!)
    return `failed ${failed.name} to ERROR (its host ${failed.host?.name ?? '?'} is down) and released its allocations`
  },
}

export async function repairFindings(findings: Finding[], context: RepairContext): Promise<Repair[]> {
  const repaired: Repair[] = []
  for (const finding of findings) {
    const fixer = FIXERS[finding.kind]
    if (!fixer) continue
    const action = await fixer(finding, context)
    if (action) repaired.push({kind: finding.kind, id: finding.id, host: finding.host, key: finding.key, action})
  }

  return repaired
}

export function isRepairable(kind: FindingKind): boolean {
  return FIXERS[kind] !== undefined
}

function deleteOptions({store, scheduler, deleteTimeoutSeconds}: RepairContext): DeleteOptions {
  return {store, scheduler, timeoutSeconds: deleteTimeoutSeconds, noWait: true}
}

/** Delete a key that is still an orphan, with a compare-and-swap on the mod revision the check read. */
async function deleteKeyIfOrphan(store: InstanceStore, key: string, orphan: (value: string) => Promise<boolean>): Promise<boolean> {
  const current = await store.transport.get(key)
  if (!current || !(await orphan(current.value))) return false
  const {ok} = await store.transport.commit([{key, modRevision: current.modRevision}], [{op: 'delete', key}])
  return ok
}

/**
 * Move the record to ERROR if it is still in one of `from`; with `hostDown`,
 * only while its host's liveness key is absent (a guard in the same write).
 */
async function failRecord(
  store: InstanceStore,
  id: string,
  from: readonly InstanceState[],
  reason: string,
  hostDown = false,
): Promise<InstanceRecord | undefined> {
  const fail = (r: InstanceRecord): InstanceRecord | undefined =>
    from.includes(r.state) ? {...withoutClaim(r), state: 'ERROR', error: {reason, step: r.step, at: now()}} : undefined
  try {
    const written = await store.update(id, fail, (r) => ({
      guards: hostDown && r.host ? [{key: keys.alive(r.host.id), modRevision: null}] : [],
    }))
    return written?.value
  } catch (error) {
    // The guard kept failing: the host is alive again, and its agent will act.
    if (error instanceof EcError && error.reason === 'conflict') return undefined
    throw error
  }
}
