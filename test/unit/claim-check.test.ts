// When a build may start from the claim in its record (src/agent/claim-check.ts).
import {expect} from 'chai'

import {FRESH_CLAIM_MS, freshClaim} from '../../src/agent/claim-check.js'
import type {InstanceRecord} from '../../src/instances/model.js'

const CLAIMED_AT = Date.parse('2026-12-03T12:00:00.000Z')
const BY_PROVIDER = {'11111111-1111-4111-8111-111111111111': {VCPU: 1, MEMORY_MB: 512}}

/** A record its agent accepted `waited` ms after create's claim. */
function accepted(waited: number, overrides: Partial<InstanceRecord> = {}): InstanceRecord {
  const claimed = new Date(CLAIMED_AT).toISOString()
  const at = new Date(CLAIMED_AT + waited).toISOString()
  return {
    id: '00000000-0000-4000-8000-000000000001',
    name: 'web',
    state: 'BUILDING',
    spec: {vcpus: 1, memoryMb: 512, diskGb: 0, resources: {}, requiredTraits: [], forbiddenTraits: [], memberOf: [], image: {ref: 'x', url: 'file:///x'}, publicKeys: [], meta: {}},
    steps: {claim: {started: claimed, finished: claimed}, accepted: {started: at, finished: at}},
    allocationsByProvider: BY_PROVIDER,
    buildAttempts: 1,
    createdAt: claimed,
    updatedAt: at,
    ...overrides,
  }
}

describe('claim check: which builds trust the claim in their record', () => {
  it('a first build accepted within the window builds from the claim', () => {
    expect(freshClaim(accepted(30))).to.equal(BY_PROVIDER)
    expect(freshClaim(accepted(FRESH_CLAIM_MS))).to.equal(BY_PROVIDER)
  })

  it('a build that waited past the window asks the scheduler', () => {
    expect(freshClaim(accepted(FRESH_CLAIM_MS + 1))).to.equal(undefined)
  })

  it("an agent's clock behind the creator's by less than the window still trusts a prompt build; by more, it asks", () => {
    expect(freshClaim(accepted(-200))).to.equal(BY_PROVIDER)
    expect(freshClaim(accepted(-FRESH_CLAIM_MS - 1))).to.equal(undefined)
  })

  it('a resumed build, a record without the claim per provider (an older ec, another scheduler) or without its times asks', () => {
    expect(freshClaim(accepted(30, {buildAttempts: 2}))).to.equal(undefined)
    expect(freshClaim(accepted(30, {allocationsByProvider: undefined}))).to.equal(undefined)
    expect(freshClaim(accepted(30, {allocationsByProvider: {}}))).to.equal(undefined)
    expect(freshClaim(accepted(30, {steps: {}}))).to.equal(undefined)
    expect(freshClaim(accepted(30, {steps: {claim: accepted(0).steps.claim}}))).to.equal(undefined)
  })
})
