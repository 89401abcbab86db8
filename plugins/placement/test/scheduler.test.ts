// PlacementScheduler against a real Placement started by `ec up`. Tests share
// one Placement, so each test tags its hosts with a trait of its own and asks
// for it: no test can land on another test's hosts.
import {randomUUID} from 'node:crypto'

import {expect} from 'chai'
import type {HostRegistration, Inventory, ResourceRequest} from '@ec/plugin-api'

import {startControlPlane, type TestControlPlane} from '../../../test/helpers/control-plane.js'
import {freePorts} from '../../../test/helpers/ports.js'
import type {HttpServer} from '../src/http.js'
import {PlacementScheduler} from '../src/scheduler.js'
import {settingsFor} from './settings.js'
import {rejection} from './rejection.js'

function uniqueTrait(): string {
  return `CUSTOM_T_${randomUUID().replaceAll('-', '').slice(0, 16).toUpperCase()}`
}

function inventory(vcpu: number, memoryMb: number): Inventory[] {
  return [
    {resourceClass: 'VCPU', total: vcpu, reserved: 0, allocationRatio: 1},
    {resourceClass: 'MEMORY_MB', total: memoryMb, reserved: 0, allocationRatio: 1},
  ]
}

function host(name: string, traits: string[], vcpu = 8, memoryMb = 8192): HostRegistration {
  return {id: randomUUID(), name: `${name}-${randomUUID().slice(0, 8)}`, inventory: inventory(vcpu, memoryMb), traits}
}

function ask(resources: Record<string, number>, extra: Partial<ResourceRequest> = {}): ResourceRequest {
  return {resources, requiredTraits: [], forbiddenTraits: [], memberOf: [], ...extra}
}

describe('PlacementScheduler', () => {
  let controlPlane: TestControlPlane
  let scheduler: PlacementScheduler

  before(async () => {
    controlPlane = await startControlPlane()
    scheduler = new PlacementScheduler(settingsFor(controlPlane.placementUrl))
  })

  after(async () => {
    await scheduler?.close()
    await controlPlane?.stop()
  })

  // First, while the Placement is still empty.
  it('says no compute host is registered when there is none', async () => {
    const error = await rejection(scheduler.claim(randomUUID(), ask({VCPU: 1})))
    expect(error.reason).to.equal('noCapacity')
    expect(error.message).to.equal('no compute host is registered; start one with "ec compute start"')
  })

  it('lists no hosts when there is none', async () => {
    expect(await scheduler.listHosts()).to.deep.equal([])
  })

  it('reports health with the API version range', async () => {
    expect(await scheduler.health()).to.deep.equal({ok: true, endpoint: controlPlane.placementUrl, version: 'API 1.0–1.39'})
  })

  describe('registerHost', () => {
    it('keeps one provider per uuid and updates its inventory, name and traits', async () => {
      const trait = uniqueTrait()
      const first = host('reg', [trait, 'HW_CPU_X86_AVX2'], 4, 4096)
      expect(await scheduler.registerHost(first)).to.deep.equal({id: first.id, name: first.name})
      const again = {...first, name: `${first.name}-renamed`, inventory: inventory(16, 32_768), traits: [trait, 'CUSTOM_GPU_HOST']}
      expect(await scheduler.registerHost(again)).to.deep.equal({id: first.id, name: again.name})

      const providers = await scheduler.client.listProviders({required: [trait]})
      expect(providers.map((p) => p.uuid)).to.deep.equal([first.id])
      const listed = (await scheduler.listHosts()).find((h) => h.id === first.id)
      expect(listed?.name).to.equal(again.name)
      expect(listed?.inventory.map((i) => [i.resourceClass, i.total])).to.deep.equal([
        ['MEMORY_MB', 32_768],
        ['VCPU', 16],
      ])
      expect(listed?.traits).to.deep.equal(['CUSTOM_GPU_HOST', trait].sort())
      expect(listed?.schedulable).to.equal(true)
      const stored = await scheduler.client.getTraits(first.id!)
      expect(stored.traits).to.include('CUSTOM_EC_HOST')
    })

    it('creates an id when none is given, and custom resource classes on the way', async () => {
      const registration: HostRegistration = {
        name: `no-id-${randomUUID().slice(0, 8)}`,
        inventory: [...inventory(2, 2048), {resourceClass: 'CUSTOM_EC_TEST_GPU', total: 2, reserved: 0, allocationRatio: 1}],
        traits: [uniqueTrait()],
      }
      const identity = await scheduler.registerHost(registration)
      expect(identity.id).to.match(/^[0-9a-f-]{36}$/)
      const {inventories} = await scheduler.client.getInventories(identity.id)
      expect(inventories.CUSTOM_EC_TEST_GPU.total).to.equal(2)
    })

    it('keeps a disabled host disabled when it registers again', async () => {
      const registration = host('disabled-restart', [uniqueTrait()])
      await scheduler.registerHost(registration)
      await scheduler.setSchedulable(registration.id!, false)
      await scheduler.registerHost(registration)
      const listed = (await scheduler.listHosts()).find((h) => h.id === registration.id)
      expect(listed?.schedulable).to.equal(false)
    })

    it('refuses a name that another provider owns', async () => {
      const registration = host('owned-name', [uniqueTrait()])
      await scheduler.registerHost(registration)
      const error = await rejection(scheduler.registerHost({...registration, id: randomUUID()}))
      expect(error.reason).to.equal('conflict')
      expect(error.message).to.include(registration.id)
    })
  })

  describe('claim', () => {
    it('claims within capacity and the allocation is visible', async () => {
      const trait = uniqueTrait()
      const registration = host('claim', [trait], 4, 4096)
      await scheduler.registerHost(registration)
      const consumer = randomUUID()

      const claim = await scheduler.claim(consumer, ask({VCPU: 2, MEMORY_MB: 1024}, {requiredTraits: [trait]}))
      expect(claim).to.deep.equal({
        consumerId: consumer,
        hostId: registration.id,
        hostName: registration.name,
        allocations: {VCPU: 2, MEMORY_MB: 1024},
        byProvider: {[registration.id!]: {VCPU: 2, MEMORY_MB: 1024}},
      })
      expect(await scheduler.allocations(consumer)).to.deep.equal({[registration.id!]: {VCPU: 2, MEMORY_MB: 1024}})
      const usage = (await scheduler.listHosts()).find((h) => h.id === registration.id)?.usage
      expect(usage).to.deep.equal({VCPU: 2, MEMORY_MB: 1024})
    })

    it('fails with noCapacity naming the resource, and allocates nothing', async () => {
      const trait = uniqueTrait()
      const registration = host('small', [trait], 4, 2048)
      await scheduler.registerHost(registration)
      const consumer = randomUUID()

      const error = await rejection(scheduler.claim(consumer, ask({VCPU: 1, MEMORY_MB: 4096}, {requiredTraits: [trait]})))
      expect(error.reason).to.equal('noCapacity')
      expect(error.message).to.equal(
        `no host has 4096 MEMORY_MB free (most free: 2048 on ${registration.name}); free capacity or ask for less`,
      )
      expect(await scheduler.allocations(consumer)).to.deep.equal({})
    })

    it('says so when the traits rule every host out', async () => {
      const missing = uniqueTrait()
      await scheduler.client.ensureTrait(missing)
      const error = await rejection(scheduler.claim(randomUUID(), ask({VCPU: 1}, {requiredTraits: [missing]})))
      expect(error.reason).to.equal('noCapacity')
      expect(error.message).to.match(new RegExp(`^no enabled host matches the traits \\(required: ${missing}\\)`))
    })

    it('tells onStep when candidates arrive and when it claims', async () => {
      const trait = uniqueTrait()
      const registration = host('steps', [trait])
      await scheduler.registerHost(registration)
      const steps: string[] = []
      await scheduler.claim(randomUUID(), ask({VCPU: 1}, {requiredTraits: [trait]}), {
        policy: 'spread',
        onStep: (step, detail) => steps.push(`${step}: ${detail}`),
      })
      expect(steps).to.deep.equal(['candidates: 1 candidate host (spread, round 1)', `claim: claiming on ${registration.name} (try 1)`])
    })

    it('reports a consumer that already holds allocations as a conflict', async () => {
      const trait = uniqueTrait()
      const registration = host('twice', [trait])
      await scheduler.registerHost(registration)
      const consumer = randomUUID()
      await scheduler.claim(consumer, ask({VCPU: 1}, {requiredTraits: [trait]}))

      const error = await rejection(scheduler.claim(consumer, ask({VCPU: 1}, {requiredTraits: [trait]})))
      expect(error.reason).to.equal('conflict')
      expect(error.message).to.equal(`consumer ${consumer} already holds allocations on ${registration.name}; release it before claiming again`)
      expect(await scheduler.allocations(consumer)).to.deep.equal({[registration.id!]: {VCPU: 1}})
    })

    it('rejects what Placement would reject, as usage errors', async () => {
      expect((await rejection(scheduler.claim('not-a-uuid', ask({VCPU: 1})))).reason).to.equal('usage')
      expect((await rejection(scheduler.claim(randomUUID(), ask({VCPU: 0})))).reason).to.equal('usage')
      expect((await rejection(scheduler.claim(randomUUID(), ask({VCPU: 1}, {memberOf: [['rack 1']]})))).reason).to.equal('usage')
      const unknownTrait = await rejection(scheduler.claim(randomUUID(), ask({VCPU: 1}, {requiredTraits: ['CUSTOM_NEVER_CREATED']})))
      expect(unknownTrait.reason).to.equal('usage')
      expect(unknownTrait.message).to.equal('Placement does not know the trait(s) CUSTOM_NEVER_CREATED: no host ever had them; check the spelling')
    })

    it('makes a warm claim with one GET allocation_candidates and one PUT allocations', async () => {
      const trait = uniqueTrait()
      await scheduler.registerHost(host('lean', [trait]))
      await scheduler.claim(randomUUID(), ask({VCPU: 1}, {requiredTraits: [trait]}))
      const seen: string[] = []
      const http = (scheduler.client as unknown as {servers: HttpServer[]}).servers[0]
      http.beforeRequest = (request) => {
        seen.push(`${request.method} ${request.path}`)
      }
      try {
        const consumer = randomUUID()
        await scheduler.claim(consumer, ask({VCPU: 1}, {requiredTraits: [trait]}))
        expect(seen).to.deep.equal(['GET /allocation_candidates', `PUT /allocations/${consumer}`])
      } finally {
        http.beforeRequest = undefined
      }
    })
  })

  describe('release', () => {
    it('is idempotent', async () => {
      const trait = uniqueTrait()
      await scheduler.registerHost(host('release', [trait]))
      const consumer = randomUUID()
      await scheduler.claim(consumer, ask({VCPU: 1}, {requiredTraits: [trait]}))

      await scheduler.release(consumer)
      expect(await scheduler.allocations(consumer)).to.deep.equal({})
      await scheduler.release(consumer)
      await scheduler.release(randomUUID())
      // Released capacity can be claimed again by the same consumer.
      await scheduler.claim(consumer, ask({VCPU: 1}, {requiredTraits: [trait]}))
    })
  })

  describe('setSchedulable', () => {
    it('takes a host out of the candidates and puts it back', async () => {
      const trait = uniqueTrait()
      const registration = host('toggle', [trait])
      await scheduler.registerHost(registration)
      const request = ask({VCPU: 1}, {requiredTraits: [trait]})

      await scheduler.setSchedulable(registration.id!, false)
      await scheduler.setSchedulable(registration.id!, false)
      expect((await rejection(scheduler.claim(randomUUID(), request))).reason).to.equal('noCapacity')
      expect((await scheduler.listHosts()).find((h) => h.id === registration.id)?.schedulable).to.equal(false)

      await scheduler.setSchedulable(registration.id!, true)
      expect((await scheduler.claim(randomUUID(), request)).hostId).to.equal(registration.id)
      expect((await scheduler.listHosts()).find((h) => h.id === registration.id)?.schedulable).to.equal(true)
    })

    it('reports an unknown host as notFound', async () => {
      expect((await rejection(scheduler.setSchedulable(randomUUID(), false))).reason).to.equal('notFound')
    })
  })

  describe('filters', () => {
    it('honours required and forbidden traits', async () => {
      const group = uniqueTrait()
      const ssd = uniqueTrait()
      const fast = host('ssd', [group, ssd])
      const plain = host('plain', [group])
      await scheduler.registerHost(fast)
      await scheduler.registerHost(plain)

      for (let i = 0; i < 3; i++) {
        const withSsd = await scheduler.claim(randomUUID(), ask({VCPU: 1}, {requiredTraits: [group, ssd]}))
        expect(withSsd.hostId).to.equal(fast.id)
        const withoutSsd = await scheduler.claim(randomUUID(), ask({VCPU: 1}, {requiredTraits: [group], forbiddenTraits: [ssd]}))
        expect(withoutSsd.hostId).to.equal(plain.id)
      }
    })

    it('honours member_of: any of one list, and every list', async () => {
      const group = uniqueTrait()
      const [rack1, rack2, zone] = [randomUUID(), randomUUID(), randomUUID()]
      const inRack1 = host('rack1', [group])
      const inRack2 = host('rack2', [group])
      await scheduler.registerHost(inRack1)
      await scheduler.registerHost(inRack2)
      for (const [registration, aggregates] of [
        [inRack1, [rack1]],
        [inRack2, [rack2, zone]],
      ] as const) {
        const {resource_provider_generation: generation} = await scheduler.client.getAggregates(registration.id!)
        await scheduler.client.setAggregates(registration.id!, generation, [...aggregates])
      }

      const claimIn = async (memberOf: string[][]) =>
        (await scheduler.claim(randomUUID(), ask({VCPU: 1}, {requiredTraits: [group], memberOf}))).hostId
      expect(await claimIn([[rack2]])).to.equal(inRack2.id)
      expect(await claimIn([[rack1]])).to.equal(inRack1.id)
      expect([inRack1.id, inRack2.id]).to.include(await claimIn([[rack1, rack2]]))
      expect(await claimIn([[rack1, rack2], [zone]])).to.equal(inRack2.id)
      const error = await rejection(claimIn([[rack1], [zone]]))
      expect(error.reason).to.equal('noCapacity')
      expect(error.message).to.match(/member of/)
    })
  })

  describe('policy', () => {
    it('pack picks the fuller host, spread the emptier', async () => {
      const group = uniqueTrait()
      const marker = uniqueTrait()
      const busy = host('busy', [group, marker])
      const idle = host('idle', [group])
      await scheduler.registerHost(busy)
      await scheduler.registerHost(idle)
      await scheduler.claim(randomUUID(), ask({VCPU: 4, MEMORY_MB: 4096}, {requiredTraits: [group, marker]}))

      for (let i = 0; i < 3; i++) {
        const packed = await scheduler.claim(randomUUID(), ask({VCPU: 1}, {requiredTraits: [group]}), {policy: 'pack'})
        expect(packed.hostId).to.equal(busy.id)
        await scheduler.release(packed.consumerId)
        const spread = await scheduler.claim(randomUUID(), ask({VCPU: 1}, {requiredTraits: [group]}), {policy: 'spread'})
        expect(spread.hostId).to.equal(idle.id)
        await scheduler.release(spread.consumerId)
      }
    })
  })

  describe('lost races', () => {
    // Placement's one sync worker serializes requests, so racing claimers
    // rarely meet a 409. These tests make the race happen: just before the
    // claimer's PUT goes out, a rival takes the whole host for real.
    function stealHostBeforePuts(claimer: PlacementScheduler, times = Number.POSITIVE_INFINITY): string[] {
      const stolen: string[] = []
      const http = (claimer.client as unknown as {servers: HttpServer[]}).servers[0]
      http.beforeRequest = async (request) => {
        if (stolen.length < times && request.method === 'PUT' && request.path.startsWith('/allocations/')) {
          const [hostId] = Object.keys((request.body as {allocations: Record<string, unknown>}).allocations)
          const {inventories} = await scheduler.client.getInventories(hostId)
          await scheduler.client.putAllocations(randomUUID(), {
            allocations: {[hostId]: {VCPU: inventories.VCPU.total}},
            projectId: 'rival',
            userId: 'rival',
            consumerGeneration: null,
            consumerType: 'INSTANCE',
          })
          stolen.push(hostId)
        }
      }
      return stolen
    }

    it('moves on to the next candidate when a racing claim took the host', async () => {
      const trait = uniqueTrait()
      const [first, second] = [host('race-a', [trait], 2, 2048), host('race-b', [trait], 2, 2048)]
      await scheduler.registerHost(first)
      await scheduler.registerHost(second)
      const claimer = new PlacementScheduler(settingsFor(controlPlane.placementUrl))
      const stolen = stealHostBeforePuts(claimer, 1)

      const consumer = randomUUID()
      const tries: string[] = []
      const claim = await claimer.claim(consumer, ask({VCPU: 1}, {requiredTraits: [trait]}), {
        onStep: (step, detail) => void (step === 'claim' && tries.push(detail)),
      })
      await claimer.close()
      expect(tries).to.have.length(2)
      expect(claim.hostId).to.not.equal(stolen[0])
      expect(await scheduler.allocations(consumer)).to.deep.equal({[claim.hostId]: {VCPU: 1}})
      for (const registration of [first, second]) {
        expect((await scheduler.client.getUsages(registration.id!)).usages.VCPU).to.be.at.most(2)
      }
    })

    it('asks again after losing every candidate, and reports noCapacity when nothing is left', async () => {
      const trait = uniqueTrait()
      const only = host('race-only', [trait], 2, 2048)
      await scheduler.registerHost(only)
      const claimer = new PlacementScheduler(settingsFor(controlPlane.placementUrl))
      const stolen = stealHostBeforePuts(claimer)

      const error = await rejection(claimer.claim(randomUUID(), ask({VCPU: 1}, {requiredTraits: [trait]})))
      await claimer.close()
      expect(stolen).to.deep.equal([only.id])
      expect(error.reason).to.equal('noCapacity')
      expect(error.message).to.match(/^no host has 1 VCPU free \(most free: 0 on race-only-/)
    })

    it('gives up with conflict after settings.claimRounds rounds of lost races', async () => {
      const trait = uniqueTrait()
      await scheduler.registerHost(host('race-rounds', [trait], 2, 2048))
      const claimer = new PlacementScheduler(settingsFor(controlPlane.placementUrl, {claimRounds: 1}))
      stealHostBeforePuts(claimer)
      const consumer = randomUUID()

      const error = await rejection(claimer.claim(consumer, ask({VCPU: 1}, {requiredTraits: [trait]})))
      await claimer.close()
      expect(error.reason).to.equal('conflict')
      expect(error.message).to.match(/was taken by a racing claim \(1 tries in 1 rounds\); try again$/)
      expect(await scheduler.allocations(consumer)).to.deep.equal({})
    })
  })

  describe('concurrency', () => {
    it('never over-commits a small host under 30 concurrent claims', async () => {
      const trait = uniqueTrait()
      const small = host('contended', [trait], 4, 2048)
      await scheduler.registerHost(small)
      // A scheduler per claimer, as separate ec processes would have.
      // 30 claims queue at one sync worker, each on its own TLS connection: give them time on a loaded machine.
      const claimers = Array.from({length: 30}, () => new PlacementScheduler(settingsFor(controlPlane.placementUrl, {timeoutMs: 60_000})))

      const outcomes = await Promise.allSettled(
        claimers.map((claimer) => claimer.claim(randomUUID(), ask({VCPU: 1, MEMORY_MB: 256}, {requiredTraits: [trait]}))),
      )
      await Promise.all(claimers.map((claimer) => claimer.close()))

      const won = outcomes.filter((outcome) => outcome.status === 'fulfilled')
      const reasons = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [(outcome.reason as {reason?: string}).reason] : []))
      expect(reasons.every((reason) => reason === 'noCapacity' || reason === 'conflict'), `reasons: ${reasons.join(', ')}`).to.equal(true)
      expect(won.length).to.be.within(1, 4)

      const {usages} = await scheduler.client.getUsages(small.id!)
      expect(usages.VCPU).to.equal(won.length)
      expect(usages.VCPU).to.be.at.most(4)
      expect(usages.MEMORY_MB).to.equal(won.length * 256)
    })
  })

  describe('when Placement does not answer', () => {
    it('fails with unavailable naming the URL, and health says so without throwing', async () => {
      const [port] = await freePorts(1)
      const url = `http://127.0.0.1:${port}`
      const offline = new PlacementScheduler(settingsFor(url, {timeoutMs: 2000}))
      const expected = `Placement at ${url} does not answer; start a local control plane with "ec up" or set placement.url (EC_PLACEMENT_URL)`

      for (const attempt of [
        offline.claim(randomUUID(), ask({VCPU: 1})),
        offline.registerHost(host('offline', [])),
        offline.listHosts(),
        offline.release(randomUUID()),
      ]) {
        const error = await rejection(attempt)
        expect(error.reason).to.equal('unavailable')
        expect(error.message).to.equal(expected)
      }

      expect(await offline.health()).to.deep.equal({ok: false, endpoint: url, detail: expected})
      await offline.close()
      await offline.close()
    })
  })
})
