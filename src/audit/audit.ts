// One audit pass: gather the views, check them, and confirm the findings that
// a create or delete in flight could have caused, by reading those consumers'
// allocations again after the records. A finding is kept only if the second
// look shows it too.
import {type CheckOptions, type Finding, type FindingKind, findInconsistencies, findingKey} from './findings.js'
import {type AuditSources, type AuditViews, gatherViews, rereadAllocations} from './views.js'

export interface Checked {
  instances: number
  hosts: number
  /** Consumers holding allocations on ec hosts. */
  allocations: number
  names: number
  assignments: number
  guests: number
}

export interface AuditPass {
  views: AuditViews
  findings: Finding[]
  checked: Checked
}

/** Findings that depend on reading allocations and records at different moments. */
const ALLOCATION_DEPENDENT: ReadonlySet<FindingKind> = new Set([
  'allocation-without-record',
  'record-without-allocation',
  'guest-without-allocation',
  'allocation-on-other-host',
  'error-holds-allocation',
  'over-capacity',
])

export async function auditOnce(sources: AuditSources, options: CheckOptions): Promise<AuditPass> {
  const views = await gatherViews(sources)
  let findings = findInconsistencies(views, options)
  const suspects = findings.filter((f) => ALLOCATION_DEPENDENT.has(f.kind))
  if (suspects.length > 0) {
    // Over capacity is re-read through every consumer on that host.
    const consumers = suspects.flatMap((f) =>
      f.kind === 'over-capacity' ? [...views.held].filter(([, byHost]) => byHost.has(f.host!)).map(([c]) => c) : [f.id!],
    )
    const again = findInconsistencies(await rereadAllocations(views, consumers, sources.scheduler), options)
    const confirmed = new Set(again.map((f) => findingKey(f)))
    findings = findings.filter((f) => !ALLOCATION_DEPENDENT.has(f.kind) || confirmed.has(findingKey(f)))
  }

  return {views, findings, checked: countChecked(views)}
}

function countChecked(views: AuditViews): Checked {
  return {
    instances: views.records.size,
    hosts: views.hosts.length,
    allocations: views.held.size,
    names: views.names.length,
    assignments: views.assignments.length,
    guests: [...views.guests.values()].reduce((n, inventory) => n + inventory.guests.length, 0),
  }
}
