// Candidate picking is pure, so it is tested on literal Placement documents.
import {expect} from 'chai'

import {hostOf, rankCandidates, utilizationOf} from '../src/candidates.js'
import type {AllocationCandidates, AllocationRequest} from '../src/wire.js'

const HOST_A = 'aaaaaaaa-0000-0000-0000-000000000000'
const HOST_B = 'bbbbbbbb-0000-0000-0000-000000000000'
const HOST_C = 'cccccccc-0000-0000-0000-000000000000'
const SHARED_DISK = 'dddddddd-0000-0000-0000-000000000000'

function candidatesFor(usedVcpu: Record<string, number>): AllocationCandidates {
  return {
    allocation_requests: Object.keys(usedVcpu).map((uuid) => ({allocations: {[uuid]: {resources: {VCPU: 1, MEMORY_MB: 512}}}})),
    provider_summaries: Object.fromEntries(
      Object.entries(usedVcpu).map(([uuid, used]) => [
        uuid,
        {
          resources: {VCPU: {capacity: 8, used}, MEMORY_MB: {capacity: 8192, used: used * 1024}},
          traits: ['CUSTOM_EC_HOST'],
          parent_provider_uuid: null,
          root_provider_uuid: uuid,
        },
      ]),
    ),
  }
}

/** A deterministic stand-in for Math.random. */
function seeded(seed: number): () => number {
  let state = seed
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    return state / 2 ** 31
  }
}

describe('candidate picking', () => {
  it('pack tries the fullest host first', () => {
    const ranked = rankCandidates(candidatesFor({[HOST_A]: 2, [HOST_B]: 6, [HOST_C]: 4}), 'pack')
    expect(ranked.map((c) => c.hostId)).to.deep.equal([HOST_B, HOST_C, HOST_A])
  })

  it('spread tries the emptiest host first', () => {
    const ranked = rankCandidates(candidatesFor({[HOST_A]: 2, [HOST_B]: 6, [HOST_C]: 4}), 'spread')
    expect(ranked.map((c) => c.hostId)).to.deep.equal([HOST_A, HOST_C, HOST_B])
  })

  it('orders equally full hosts at random', () => {
    const firsts = new Set<string>()
    const random = seeded(7)
    for (let i = 0; i < 50; i++) firsts.add(rankCandidates(candidatesFor({[HOST_A]: 4, [HOST_B]: 4, [HOST_C]: 4}), 'pack', random)[0].hostId)
    expect([...firsts].sort()).to.deep.equal([HOST_A, HOST_B, HOST_C])
  })

  it('keeps the allocations Placement proposed and totals what the claim takes', () => {
    const [only] = rankCandidates(candidatesFor({[HOST_A]: 0}), 'pack')
    expect(only.allocations).to.deep.equal({[HOST_A]: {VCPU: 1, MEMORY_MB: 512}})
    expect(only.resources).to.deep.equal({VCPU: 1, MEMORY_MB: 512})
    expect(only.utilization).to.equal(0)
  })

  it('measures utilization over the classes the request takes', () => {
    const candidates = candidatesFor({[HOST_A]: 4})
    expect(utilizationOf(candidates.allocation_requests[0], candidates.provider_summaries)).to.equal(0.5)
  })

  it('names the ec host when a candidate spans a sharing provider', () => {
    const request = {allocations: {[SHARED_DISK]: {resources: {DISK_GB: 10}}, [HOST_A]: {resources: {VCPU: 1}}}}
    const summaries = {
      [SHARED_DISK]: {resources: {DISK_GB: {capacity: 1000, used: 0}}, traits: ['MISC_SHARES_VIA_AGGREGATE'], root_provider_uuid: SHARED_DISK},
      [HOST_A]: {resources: {VCPU: {capacity: 8, used: 0}}, traits: ['CUSTOM_EC_HOST'], root_provider_uuid: HOST_A},
    }
    expect(hostOf(request, summaries)).to.equal(HOST_A)
    const [ranked] = rankCandidates({allocation_requests: [request], provider_summaries: summaries}, 'spread')
    expect(ranked.resources).to.deep.equal({DISK_GB: 10, VCPU: 1})
  })

  it("prefers a host's own disk to shared storage; shared storage serves the hosts that have none", () => {
    const summaries = {
      [SHARED_DISK]: {resources: {DISK_GB: {capacity: 1000, used: 0}}, traits: ['MISC_SHARES_VIA_AGGREGATE'], root_provider_uuid: SHARED_DISK},
      [HOST_A]: {resources: {VCPU: {capacity: 8, used: 0}, DISK_GB: {capacity: 100, used: 0}}, traits: ['CUSTOM_EC_HOST'], root_provider_uuid: HOST_A},
      [HOST_B]: {resources: {VCPU: {capacity: 8, used: 0}}, traits: ['CUSTOM_EC_HOST'], root_provider_uuid: HOST_B},
    }
    const requests: AllocationRequest[] = [
      {allocations: {[HOST_A]: {resources: {VCPU: 1, DISK_GB: 10}}}},
      {allocations: {[HOST_A]: {resources: {VCPU: 1}}, [SHARED_DISK]: {resources: {DISK_GB: 10}}}},
      {allocations: {[HOST_B]: {resources: {VCPU: 1}}, [SHARED_DISK]: {resources: {DISK_GB: 10}}}},
    ]
    const ranked = rankCandidates({allocation_requests: requests, provider_summaries: summaries}, 'spread')
    expect(ranked.map((c) => [c.hostId, Object.keys(c.allocations).sort()]).sort()).to.deep.equal([
      [HOST_A, [HOST_A]],
      [HOST_B, [HOST_B, SHARED_DISK].sort()],
    ])
    // Only shared candidates for a host (its own disk is full, or shared was asked for): they stay.
    expect(rankCandidates({allocation_requests: requests.slice(1, 2), provider_summaries: summaries}, 'spread')).to.have.length(1)
  })

  it('returns nothing for no candidates', () => {
    expect(rankCandidates({allocation_requests: [], provider_summaries: {}}, 'spread')).to.deep.equal([])
  })
})
