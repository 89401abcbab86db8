import {expect} from 'chai'

import {findInconsistencies} from '../../src/audit/findings.js'
import type {AuditViews} from '../../src/audit/views.js'
import type {InstanceRecord} from '../../src/instances/model.js'

const A = '00000000-0000-0000-0000-00000000000a'
const B = '00000000-0000-0000-0000-00000000000b'
const ONE = {VCPU: 1, MEMORY_MB: 128}
const NOW = new Date('2026-01-01T00:10:00Z')

function host(id: string, name: string, vcpus: number) {
  return {
    id,
    name,
    traits: [],
    schedulable: true,
    usage: {},
    inventory: [
      {resourceClass: 'VCPU', total: vcpus, reserved: 0, allocationRatio: 2},
      {resourceClass: 'MEMORY_MB', total: 1024, reserved: 512, allocationRatio: 1},
    ],
  }
}

function record(id: string, state: InstanceRecord['state'], hostId?: string, updatedAt = '2026-01-01T00:09:00Z'): InstanceRecord {
  return {
    id,
    name: `n-${id}`,
    state,
    spec: {vcpus: 1, memoryMb: 128, diskGb: 0, resources: ONE, requiredTraits: [], forbiddenTraits: [], memberOf: [], image: {ref: 'x'}, publicKeys: [], meta: {}},
    host: hostId ? {id: hostId, name: hostId === A ? 'a' : 'b'} : undefined,
    steps: {},
    buildAttempts: 0,
    createdAt: updatedAt,
    updatedAt,
  }
}

function views(records: InstanceRecord[], held: Array<[string, string, Record<string, number>]>, extra: Partial<AuditViews> = {}): AuditViews {
  const byConsumer = new Map<string, Map<string, Record<string, number>>>()
  for (const [consumer, hostId, resources] of held) {
    if (!byConsumer.has(consumer)) byConsumer.set(consumer, new Map())
    byConsumer.get(consumer)!.set(hostId, resources)
  }

  return {
    hosts: [host(A, 'a', 1), host(B, 'b', 4)],
    held: byConsumer,
    records: new Map(records.map((r) => [r.id, {value: r, modRevision: '1'}])),
    names: records.map((r) => ({key: `names/${r.name}`, modRevision: '1', name: r.name, id: r.id})),
    assignments: [],
    alive: new Set([A, B]),
    guests: new Map(),
    unreadable: [],
    ...extra,
  }
}

const check = (v: AuditViews) => findInconsistencies(v, {now: NOW, stuckAfterSeconds: 60}).map((f) => [f.kind, f.id ?? f.host])

describe('audit checks', () => {
  it('finds nothing when records, allocations and guests agree', () => {
    const v = views([record('i1', 'ACTIVE', A)], [['i1', A, ONE]], {guests: new Map([[A, {at: 'now', guests: [{id: 'i1', name: 'g', state: 'running', defined: true}]}]])})
    expect(check(v)).to.deep.equal([])
  })

  it('an allocation on another host than the record says', () => {
    expect(check(views([record('i1', 'ACTIVE', A)], [['i1', B, ONE]]))).to.deep.equal([['allocation-on-other-host', 'i1']])
  })

  it('capacity is (total - reserved) x ratio per class, counting guests that hold nothing on the host', () => {
    // host a: VCPU capacity 1 x 2 = 2, MEMORY_MB (1024 - 512) x 1 = 512.
    const full = views([record('i1', 'ACTIVE', A), record('i2', 'ACTIVE', A)], [['i1', A, ONE], ['i2', A, ONE]])
    expect(check(full)).to.deep.equal([])
    const guest = {id: 'i3', name: 'g', state: 'running', defined: true}
    const v = views([record('i1', 'ACTIVE', A), record('i2', 'ACTIVE', A), record('i3', 'ACTIVE', B)], [['i1', A, ONE], ['i2', A, ONE], ['i3', B, ONE]], {
      guests: new Map([[A, {at: 'now', guests: [guest]}]]),
    })
    expect(check(v)).to.deep.equal([['guest-without-allocation', 'i3'], ['over-capacity', A]])
  })

  it('stuck only on a dead host and only past the threshold; DELETING without a host too', () => {
    const old = '2026-01-01T00:00:00Z'
    const v = views(
      [record('s1', 'SCHEDULED', B, old), record('s2', 'BUILDING', B), record('s3', 'DELETING', undefined, old), record('s4', 'ACTIVE', B, old)],
      [['s1', B, ONE], ['s2', B, ONE], ['s4', B, ONE]],
      {alive: new Set()},
    )
    expect(check(v)).to.deep.equal([['stuck-instance', 's1'], ['stuck-instance', 's3']])
  })

  it('a damaged record is one unreadable-key finding, not an orphan under every key that names it', () => {
    const v = views([], [['d1', A, ONE]], {
      names: [{key: 'names/x', modRevision: '1', name: 'x', id: 'd1'}],
      assignments: [{key: `hosts/${A}/assigned/d1`, modRevision: '1', hostId: A, id: 'd1'}],
      unreadable: [{key: 'instances/d1', modRevision: '1'}],
    })
    expect(check(v)).to.deep.equal([['unreadable-key', undefined]])
  })
})
