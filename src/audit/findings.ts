// Pure checks over the audit's views: each inconsistency between Placement's
// allocations, etcd's keys and the hosts' guest inventories becomes a finding.
// No I/O here, so every rule can be read (and tested) on its own.
import type {InstanceRecord, InstanceState} from '../instances/model.js'
import type {AuditViews, Resources} from './views.js'

export const FINDING_KINDS = [
  'allocation-without-record',
  'record-without-allocation',
  'guest-without-allocation',
  'guest-without-record',
  'allocation-on-other-host',
  'over-capacity',
  'stale-pending',
  'orphan-name',
  'orphan-assignment',
  'stuck-instance',
  'error-holds-allocation',
  'unreadable-key',
  'stale-group-member',
] as const
export type FindingKind = (typeof FINDING_KINDS)[number]

export interface Finding {
  kind: FindingKind
  /** The instance (or consumer) it concerns. */
  id?: string
  /** The host (provider uuid) it concerns. */
  host?: string
  /** The key it concerns (orphan keys). */
  key?: string
  /** The resource class (over-capacity). */
  resourceClass?: string
  /** One line: what is wrong. */
  detail: string
}

export interface CheckOptions {
  now: Date
  /** How long a SCHEDULED, BUILDING or DELETING record may sit on a dead host before it is stuck. */
  stuckAfterSeconds: number
}

/** States in which an instance must hold its allocation. */
const HOLDING: readonly InstanceState[] = ['SCHEDULED', 'BUILDING', 'ACTIVE']
/** States a live agent (or delete) moves on from; on a dead host they are stuck. */
const IN_FLIGHT: readonly InstanceState[] = ['SCHEDULED', 'BUILDING', 'DELETING']

export function findInconsistencies(views: AuditViews, options: CheckOptions): Finding[] {
  const hostName = hostNames(views)
  const findings: Finding[] = []
  const add = (finding: Finding) => findings.push(finding)
  // A damaged record is reported as unreadable, not as missing under every key that points to it.
  const damaged = new Set(views.unreadable.map(({key}) => key))
  const noRecord = (id: string) => !views.records.has(id) && !damaged.has(`instances/${id}`)

  for (const [consumer, byHost] of views.held) {
    if (noRecord(consumer)) {
      const where = [...byHost.keys()]
      add({
        kind: 'allocation-without-record',
        id: consumer,
        host: where[0],
        detail: `consumer ${consumer} holds ${where.map((h) => `${formatResources(byHost.get(h)!)} on ${hostName(h)}`).join(', ')} but has no instance record`,
      })
    }
  }

  for (const {value: record} of views.records.values()) {
    const byHost = views.held.get(record.id)
    const holds = byHost !== undefined && byHost.size > 0
    if (HOLDING.includes(record.state) && !holds) {
      add({
        kind: 'record-without-allocation',
        id: record.id,
        host: record.host?.id,
        detail: `${record.name} is ${record.state}${record.host ? ` on ${record.host.name}` : ''} but holds no allocation`,
      })
    }

    if (record.host && holds && record.state !== 'PENDING') {
      for (const other of byHost.keys()) {
        if (other === record.host.id) continue
        add({
          kind: 'allocation-on-other-host',
          id: record.id,
          host: other,
          detail: `${record.name}'s record says ${record.host.name} but it holds ${formatResources(byHost.get(other)!)} on ${hostName(other)}`,
        })
      }
    }

    if (record.state === 'ERROR' && holds) {
      add({
        kind: 'error-holds-allocation',
        id: record.id,
        host: [...byHost.keys()][0],
        detail: `${record.name} is ERROR but still holds ${[...byHost].map(([h, r]) => `${formatResources(r)} on ${hostName(h)}`).join(', ')}`,
      })
    }

    const deadline = pendingDeadline(record)
    if (record.state === 'PENDING' && deadline !== undefined && deadline < options.now.getTime()) {
      add({
        kind: 'stale-pending',
        id: record.id,
        detail: `${record.name} is PENDING past its scheduling deadline ${record.scheduling?.deadline} (${record.scheduling?.by ?? 'its create'} is gone)`,
      })
    }

    const idleMs = options.now.getTime() - Date.parse(record.updatedAt)
    const hostDown = record.host ? !views.alive.has(record.host.id) : record.state === 'DELETING'
    if (IN_FLIGHT.includes(record.state) && hostDown && idleMs > options.stuckAfterSeconds * 1000) {
      add({
        kind: 'stuck-instance',
        id: record.id,
        host: record.host?.id,
        detail: `${record.name} is ${record.state}${record.host ? ` on ${record.host.name}, which is down,` : ' on no host'} unchanged for ${Math.round(idleMs / 1000)} s`,
      })
    }
  }

  for (const name of views.names) {
    const record = views.records.get(name.id)?.value
    if (record?.name === name.name || (!record && !noRecord(name.id))) continue
    add({
      kind: 'orphan-name',
      id: name.id,
      key: name.key,
      detail: record
        ? `name "${name.name}" points to ${name.id}, which is named "${record.name}"`
        : `name "${name.name}" points to ${name.id}, which has no record`,
    })
  }

  for (const assignment of views.assignments) {
    if (!noRecord(assignment.id)) continue
    add({
      kind: 'orphan-assignment',
      id: assignment.id,
      host: assignment.hostId,
      key: assignment.key,
      detail: `${hostName(assignment.hostId)} is assigned ${assignment.id}, which has no record`,
    })
  }

  // Joining is in the SCHEDULED write, leaving follows the record's removal: a member without record is a teardown that died in between.
  for (const {key, group} of views.groups ?? []) {
    for (const [id, member] of Object.entries(group.members)) {
      if (!noRecord(id)) continue
      add({
        kind: 'stale-group-member',
        id,
        host: member.host.id,
        key,
        detail: `group ${group.name} lists ${member.name} (${id}) on ${member.host.name}, which has no record`,
      })
    }
  }

  for (const {key} of views.unreadable) {
    add({kind: 'unreadable-key', key, detail: `${key} does not hold the JSON ec writes there; inspect it with etcdctl and delete or rewrite it`})
  }

  findings.push(...guestFindings(views, hostName, noRecord))
  return findings
}

/** Guests without record or allocation, and providers over capacity counting the guests that hold nothing. */
function guestFindings(views: AuditViews, hostName: (id: string) => string, noRecord: (id: string) => boolean): Finding[] {
  const findings: Finding[] = []
  for (const host of views.hosts) {
    const used: Resources = {}
    for (const byHost of views.held.values()) addTo(used, byHost.get(host.id) ?? {})
    const unaccounted: Resources = {}
    const inventory = views.guests.get(host.id)
    for (const guest of inventory?.guests ?? []) {
      const record = views.records.get(guest.id)?.value
      if (!record) {
        if (!noRecord(guest.id)) continue
        findings.push({
          kind: 'guest-without-record',
          id: guest.id,
          host: host.id,
          detail: `${host.name} runs guest ${guest.name} (${guest.state}) for ${guest.id}, which has no record (reported ${inventory!.at})`,
        })
        continue
      }

      if (record.state === 'DELETING' || views.held.get(guest.id)?.has(host.id)) continue
      findings.push({
        kind: 'guest-without-allocation',
        id: guest.id,
        host: host.id,
        detail: `${host.name} runs ${record.name} (${guest.state}, record ${record.state}) but it holds nothing on ${host.name} (reported ${inventory!.at})`,
      })
      if (guest.defined) addTo(unaccounted, record.spec.resources)
    }

    for (const inv of host.inventory) {
      const capacity = Math.floor((inv.total - inv.reserved) * inv.allocationRatio)
      const allocated = used[inv.resourceClass] ?? 0
      const extra = unaccounted[inv.resourceClass] ?? 0
      if (allocated + extra <= capacity) continue
      findings.push({
        kind: 'over-capacity',
        host: host.id,
        resourceClass: inv.resourceClass,
        detail: `${hostName(host.id)} uses ${allocated + extra} ${inv.resourceClass} (${allocated} allocated${extra ? `, ${extra} by guests without allocation` : ''}) of a capacity of ${capacity}`,
      })
    }
  }

  return findings
}

/** When a PENDING record becomes stale (its create's own deadline). */
function pendingDeadline(record: InstanceRecord): number | undefined {
  const deadline = record.scheduling ? Date.parse(record.scheduling.deadline) : Number.NaN
  return Number.isNaN(deadline) ? undefined : deadline
}

function hostNames(views: AuditViews): (id: string) => string {
  const names = new Map(views.hosts.map((h) => [h.id, h.name]))
  for (const {value} of views.records.values()) if (value.host && !names.has(value.host.id)) names.set(value.host.id, value.host.name)
  return (id) => names.get(id) ?? id
}

function addTo(sum: Resources, resources: Resources): void {
  for (const [rc, amount] of Object.entries(resources)) sum[rc] = (sum[rc] ?? 0) + amount
}

export function formatResources(resources: Resources): string {
  return Object.entries(resources)
    .map(([rc, amount]) => `${rc}:${amount}`)
    .join(',')
}

/** Identity of a finding across two runs of the checks. */
export function findingKey(finding: Finding): string {
  return [finding.kind, finding.id, finding.host, finding.key, finding.resourceClass].join('|')
}
