// How instance records read to a person (show, list) and to a script (--json).
import {type InstanceRecord, STEPS} from '../instances/model.js'
import {STEP_LABELS} from './create-progress.js'

/** PENDING past its scheduling deadline: the `ec instance create` that owned it is gone. */
export function isStalePending(record: InstanceRecord, at = Date.now()): boolean {
  return record.state === 'PENDING' && record.scheduling !== undefined && Date.parse(record.scheduling.deadline) < at
}

export function displayState(record: InstanceRecord): string {
  return isStalePending(record) ? 'PENDING (stale: its create stopped; delete it)' : record.state
}

export function formatResources(resources: Record<string, number> | undefined): string {
  if (!resources) return '-'
  return Object.entries(resources)
    .map(([cls, amount]) => `${cls}:${amount}`)
    .join(',')
}

export function describeInstance(record: InstanceRecord): string {
  const spec = record.spec
  const rows: Array<[string, string | undefined]> = [
    ['id', record.id],
    ['name', record.name],
    ['state', displayState(record)],
    ['step', record.step ? STEP_LABELS[record.step] : undefined],
    ['error', record.error ? `${record.error.reason} (at ${record.error.step ?? '?'}, ${record.error.at})` : undefined],
    ['host', record.host ? `${record.host.name} (${record.host.id})` : undefined],
    ['address', record.address],
    ['flavor', spec.flavor],
    ['resources', formatResources(spec.resources)],
    ['allocations', record.allocations ? formatResources(record.allocations) : 'none'],
    ['traits', [...spec.requiredTraits, ...spec.forbiddenTraits.map((t) => `!${t}`)].join(',') || undefined],
    ['image', spec.image.ref],
    ['created', record.createdAt],
    ['updated', record.updatedAt],
  ]
  for (const step of STEPS) {
    const times = record.steps[step]
    if (times) rows.push([`  ${step}`, `${times.started}${times.finished ? ` → ${times.finished}` : ' …'}${times.percent === undefined ? '' : ` ${times.percent}%`}`])
  }

  const width = Math.max(...rows.map(([key]) => key.length))
  return rows
    .filter(([, value]) => value !== undefined && value !== '')
    .map(([key, value]) => `${key.padEnd(width)}  ${value}`)
    .join('\n')
}
