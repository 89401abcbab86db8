// The query ec sends for a request whose unsuffixed group is one resource
// class alone: a suffixed group of its own, where Placement 8.0 would
// otherwise offer a shared disk to only one host of its aggregate.
import {expect} from 'chai'
import type {RequestGroup, ResourceRequest} from '@ec/plugin-api'

import {candidateParams, LONE_CLASS_GROUP, withLoneClassInItsOwnGroup} from '../src/query.js'

const group = (suffix: string, resources: Record<string, number>): RequestGroup => ({suffix, resources, requiredTraits: [], forbiddenTraits: [], memberOf: []})
const ask = (resources: Record<string, number>, extra: Partial<ResourceRequest> = {}): ResourceRequest => ({resources, requiredTraits: [], forbiddenTraits: [], memberOf: [], ...extra})

describe('a lone unsuffixed resource class goes in a group of its own', () => {
  it('moves DISK_GB beside a NUMA group into its own group, policy none', () => {
    const moved = withLoneClassInItsOwnGroup(ask({DISK_GB: 5}, {groups: [group('_NUMA0', {VCPU: 1, MEMORY_MB: 512})], groupPolicy: 'none'}))
    expect(moved.resources).to.deep.equal({})
    expect(moved.groups!.map((g) => [g.suffix, g.resources])).to.deep.equal([['_NUMA0', {VCPU: 1, MEMORY_MB: 512}], [LONE_CLASS_GROUP, {DISK_GB: 5}]])
    const query = candidateParams(moved, {rootRequired: true}).toString()
    expect(query).to.equal('resources_NUMA0=VCPU%3A1%2CMEMORY_MB%3A512&resources_DISK=DISK_GB%3A5&group_policy=none&root_required=CUSTOM_EC_HOST%2C%21COMPUTE_STATUS_DISABLED')
    // candidateParams applies it itself.
    expect(candidateParams(ask({DISK_GB: 5}, {groups: [group('_NUMA0', {VCPU: 1, MEMORY_MB: 512})], groupPolicy: 'none'}), {rootRequired: true}).toString()).to.equal(query)
  })

  it('under isolate only for two or more VCPU/memory groups (a split over NUMA nodes)', () => {
    const split = ask({DISK_GB: 5}, {groups: [group('_NUMA0', {VCPU: 1, MEMORY_MB: 512}), group('_NUMA1', {VCPU: 1, MEMORY_MB: 512})], groupPolicy: 'isolate'})
    expect(withLoneClassInItsOwnGroup(split).groups).to.have.length(3)
    const one = ask({DISK_GB: 5}, {groups: [group('_NUMA0', {VCPU: 1, MEMORY_MB: 512})], groupPolicy: 'isolate'})
    expect(withLoneClassInItsOwnGroup(one)).to.equal(one)
    const gpu = ask({DISK_GB: 5}, {groups: [group('_NUMA0', {VCPU: 1}), group('G', {CUSTOM_GPU: 1})], groupPolicy: 'isolate'})
    expect(withLoneClassInItsOwnGroup(gpu)).to.equal(gpu)
  })

  it('leaves requests alone where moving would change the answer or there is nothing to move', () => {
    const numa = [group('_NUMA0', {VCPU: 1, MEMORY_MB: 512})]
    for (const request of [
      ask({DISK_GB: 5}),
      ask({DISK_GB: 5, CUSTOM_X: 1}, {groups: numa, groupPolicy: 'none'}),
      ask({DISK_GB: 5}, {groups: numa, groupPolicy: 'none', requiredTraits: ['HW_CPU_X86_AVX2']}),
      ask({DISK_GB: 5}, {groups: numa, groupPolicy: 'none', memberOf: [['rack1']]}),
      ask({DISK_GB: 5}, {groups: numa, groupPolicy: 'none', inTree: 'f3b6cbb2-8a6e-4c2e-8c4c-2b7d8f6f2b1a'}),
      ask({DISK_GB: 5}, {groups: [...numa, group(LONE_CLASS_GROUP, {CUSTOM_Y: 1})], groupPolicy: 'none'}),
    ]) expect(withLoneClassInItsOwnGroup(request)).to.equal(request)
    // Before 1.35 ec's markers are in the unsuffixed group: nothing moves.
    expect(candidateParams(ask({DISK_GB: 5}, {groups: numa, groupPolicy: 'none'}), {rootRequired: false}).get('resources')).to.equal('DISK_GB:5')
  })
})
