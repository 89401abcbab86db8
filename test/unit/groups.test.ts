import {expect} from 'chai'

import {admits, admitsHost, allowedHosts, describePolicy, type GroupRecord, preference, relevantMembers, validateGroupName} from '../../src/groups/model.js'

function group(policy: GroupRecord['policy'], members: Record<string, string>, extra: Partial<GroupRecord> = {}): GroupRecord {
  return {
    id: 'g',
    name: 'g',
    policy,
    soft: false,
    ...(policy === 'anti-affinity' ? {maxPerHost: 1} : {}),
    ...extra,
    members: Object.fromEntries(Object.entries(members).map(([id, host]) => [id, {host: {id: host, name: host}, name: id, at: ''}])),
    createdAt: '',
  }
}

const everyone = () => true

describe('server group rules', () => {
  it('hard anti-affinity admits a host below its maximum only, counting live members', () => {
    const g = group('anti-affinity', {a: 'h1', b: 'h2'})
    expect(admitsHost(g, 'h1', everyone)).to.equal(false)
    expect(admitsHost(g, 'h3', everyone)).to.equal(true)
    expect(admitsHost(g, 'h1', (id) => id !== 'a'), 'a gone or ERROR').to.equal(true)
    const two = group('anti-affinity', {a: 'h1', b: 'h1'}, {maxPerHost: 3})
    expect(admitsHost(two, 'h1', everyone)).to.equal(true)
    expect(admitsHost({...two, maxPerHost: 2}, 'h1', everyone)).to.equal(false)
  })

  it('hard affinity admits only the host of the live members; an empty group any host', () => {
    const g = group('affinity', {a: 'h1', b: 'h1'})
    expect(admitsHost(g, 'h1', everyone)).to.equal(true)
    expect(admitsHost(g, 'h2', everyone)).to.equal(false)
    expect(admitsHost(g, 'h2', () => false), 'no member counts: the next one decides').to.equal(true)
    expect(admitsHost(group('affinity', {}), 'h9', everyone)).to.equal(true)
  })

  it('soft policies admit every host and only order them', () => {
    expect(admitsHost(group('anti-affinity', {a: 'h1'}, {soft: true}), 'h1', everyone)).to.equal(true)
    expect(admitsHost(group('affinity', {a: 'h1'}, {soft: true}), 'h2', everyone)).to.equal(true)
    const anti = preference(group('anti-affinity', {a: 'h1', b: 'h1', c: 'h2'}, {soft: true, maxPerHost: 2}))
    expect(['h1', 'h2', 'h3'].sort((x, y) => anti(x) - anti(y))).to.deep.equal(['h3', 'h2', 'h1'])
    const aff = preference(group('affinity', {a: 'h2'}, {soft: true}))
    expect(['h1', 'h2', 'h3'].sort((x, y) => aff(x) - aff(y))[0]).to.equal('h2')
  })

  it('anti-affinity breaks ties between equally full hosts at random (once per host), never across member counts; affinity keeps the policy order', () => {
    const draws = [0.9, 0.1, 0.5, 0.99]
    const anti = preference(group('anti-affinity', {a: 'h1'}), () => draws.shift()!)
    expect(['h2', 'h3', 'h4', 'h1'].map((h) => anti(h))).to.deep.equal([0.9, 0.1, 0.5, 1_000_001.99])
    expect(['h1', 'h2', 'h3', 'h4'].sort((x, y) => anti(x) - anti(y))).to.deep.equal(['h3', 'h4', 'h2', 'h1'])
    expect(anti('h2'), 'one draw per host for one decision').to.equal(0.9)
    const aff = preference(group('affinity', {}), () => 0.7)
    expect(['h1', 'h2'].map((h) => aff(h))).to.deep.equal([-0, -0])
  })

  it('the pre-claim filter agrees with the join decision', () => {
    const g = group('anti-affinity', {a: 'h1', b: 'h2', c: 'h2'}, {maxPerHost: 2})
    const allowed = allowedHosts(g, everyone)
    for (const host of ['h1', 'h2', 'h3']) expect(admits(allowed, host), host).to.equal(admitsHost(g, host, everyone))
    const aff = group('affinity', {a: 'h1'})
    expect(allowedHosts(aff, everyone).anchor).to.equal('h1')
    expect(allowedHosts(aff, () => false).anchor).to.equal(undefined)
    expect(allowedHosts(group('affinity', {a: 'h1'}, {soft: true}), everyone)).to.deep.equal({full: new Set()})
  })

  it('reads only the members a decision depends on', () => {
    const g = group('anti-affinity', {a: 'h1', b: 'h2', c: 'h2'}, {maxPerHost: 2})
    expect(relevantMembers(g, 'h1')).to.deep.equal([])
    expect(relevantMembers(g, 'h2')).to.deep.equal(['b', 'c'])
    expect(relevantMembers(g)).to.deep.equal(['b', 'c'])
    expect(relevantMembers(group('affinity', {a: 'h1', b: 'h2'}), 'h1')).to.deep.equal(['b'])
    expect(relevantMembers(group('affinity', {a: 'h1'}, {soft: true}), 'h2')).to.deep.equal([])
  })

  it('names and descriptions', () => {
    expect(() => validateGroupName('Web')).to.throw(/group name "Web" is not valid/)
    expect(() => validateGroupName('a/b')).to.throw(/is not valid/)
    expect(validateGroupName('web-1')).to.equal('web-1')
    expect(describePolicy({policy: 'anti-affinity', soft: false, maxPerHost: 2})).to.equal('anti-affinity, at most 2 per host, hard')
    expect(describePolicy({policy: 'affinity', soft: true})).to.equal('affinity, soft')
  })
})
