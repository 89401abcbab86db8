import {expect} from 'chai'

import {InstanceChanges} from '../../src/instances/changes.js'
import type {InstanceRecord} from '../../src/instances/model.js'

const record = (patch: Partial<InstanceRecord>): InstanceRecord =>
  ({id: 'i1', name: 'web1', state: 'PENDING', steps: {}, spec: {}, buildAttempts: 0, createdAt: 't', updatedAt: 't', ...patch}) as InstanceRecord
const put = (r: InstanceRecord) => ({type: 'put' as const, kv: {key: `instances/${r.id}`, value: JSON.stringify(r), modRevision: '1', createRevision: '1'}})

describe('instance changes (what ec instance watch prints)', () => {
  it('reports a creation, state and step moves and the deletion; folds rewrites that move nothing', () => {
    const changes = new InstanceChanges(() => 'now')
    expect(changes.apply(put(record({})))).to.include({event: 'created', state: 'PENDING'})
    expect(changes.apply(put(record({updatedAt: 'later'})))).to.equal(undefined)
    const building = record({state: 'BUILDING', step: 'image', steps: {image: {started: 't', percent: 40}}})
    expect(changes.apply(put(building))).to.include({event: 'changed', state: 'BUILDING', step: 'image', percent: 40})
    expect(changes.apply(put(building))).to.equal(undefined)
    expect(changes.apply({type: 'delete', key: 'instances/i1', modRevision: '5'})).to.deep.equal({event: 'deleted', at: 'now', id: 'i1', name: 'web1'})
  })

  it('starts from a snapshot and ignores keys that are not instance records', () => {
    const changes = new InstanceChanges(() => 'now')
    expect(changes.snapshot([record({state: 'ACTIVE'})])[0]).to.include({event: 'existing', state: 'ACTIVE'})
    expect(changes.apply(put(record({state: 'ACTIVE'})))).to.equal(undefined)
    expect(changes.apply({type: 'put', kv: {key: 'names/web1', value: 'i1', modRevision: '2', createRevision: '2'}})).to.equal(undefined)
  })
})
