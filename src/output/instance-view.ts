// How instance records read to a person (show, list) and to a script (--json).
import {type InstanceRecord, STEPS} from '../instances/model.js'
import {paintState} from './colour.js'
import {STEP_LABELS} from './step-labels.js'
import type {ListingSpec} from './listing-plan.js'
import {byCodeUnits} from '../order.js'

/** PENDING past its scheduling deadline: the `ec instance create` that owned it is gone. */
export function isStalePending(record: InstanceRecord, at = Date.now()): boolean {
  return record.state === 'PENDING' && record.scheduling !== undefined && Date.parse(record.scheduling.deadline) < at
}

export function displayState(record: InstanceRecord): string {
  return isStalePending(record) ? 'PENDING (stale: its create stopped; delete it)' : record.state
}

/** Where to reach the guest: its own address, else (user networking) the host endpoint forwarded to its SSH port. */
export function wayIn(record: InstanceRecord): string | undefined {
  if (record.address) return record.address
  const ssh = record.ports?.find((p) => p.guest === 22 && p.proto === 'tcp')
  return ssh ? `${ssh.host} (ssh)` : undefined
}

/** "127.0.0.1:41022→22/tcp, …" */
export function formatPorts(record: InstanceRecord): string | undefined {
  return record.ports?.map((p) => `${p.host}→${p.guest}/${p.proto}`).join(', ') || undefined
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
    ['ports', formatPorts(record)],
    ['host keys', record.hostKeys?.map((k) => k.split(' ')[0]).join(', ')],
    ['flavor', spec.flavor],
    ['group', spec.group],
    ['resources', formatResources(spec.resources)],
    ['allocations', record.allocations ? formatResources(record.allocations) : 'none'],
    ['traits', [...spec.requiredTraits, ...spec.forbiddenTraits.map((t) => `!${t}`)].join(',') || undefined],
    ['image', spec.image.ref],
    ['meta', Object.entries(spec.meta ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || undefined],
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

/** `ec instance list`'s table: --columns and --sort name these. */
export const INSTANCE_LISTING: ListingSpec<InstanceRecord> = {
  id: (r) => r.id,
  columns: [
    {name: 'name', value: (r) => r.name},
    {name: 'id', value: (r) => r.id},
    {name: 'state', value: (r) => r.state, format: (_, r, colour) => paintState(displayState(r), colour)},
    {name: 'step', value: (r) => r.step},
    {name: 'host', value: (r) => r.host?.name},
    {name: 'vcpus', value: (r) => r.spec.vcpus},
    {name: 'memory', value: (r) => r.spec.memoryMb, format: (v) => `${v}M`},
    {name: 'disk', value: (r) => r.spec.diskGb, format: (v) => `${v}G`},
    {name: 'image', value: (r) => r.spec.image.ref},
    {name: 'address', value: (r) => wayIn(r)},
    {name: 'created', value: (r) => r.createdAt},
  ],
  defaultColumns: ['name', 'id', 'state', 'host', 'vcpus', 'memory', 'disk', 'address', 'created'],
}

export interface InstanceFilter {
  /** A host's name or id. */
  host?: string
  state?: string
}

/** What `ec instance list` shows: the records on that host, in that state, oldest first. */
export function selectInstances(records: InstanceRecord[], {host, state}: InstanceFilter): InstanceRecord[] {
  return records
    .filter((r) => !host || r.host?.name === host || r.host?.id === host)
    .filter((r) => !state || r.state === state)
    .sort((a, b) => byCodeUnits(a.createdAt, b.createdAt))
}
