// The scheduler contract as mocha tests any SchedulerBackend runs against
// itself: registering a host, claims that never over-commit it (also when
// they race), idempotent releases, what allocations() and hostAllocations()
// report, taking a host out of scheduling, and removing it.
import assert from 'node:assert/strict'
import {randomUUID} from 'node:crypto'

import type {HostIdentity, HostRegistration, ResourceRequest, SchedulerBackend} from '../scheduler.js'

export interface SchedulerContractOptions {
  /** A backend to test; the suite closes it at the end. Hosts it registers have unique names and are removed after. */
  create(): Promise<SchedulerBackend>
  /** Per test; default 60 s. */
  timeoutMs?: number
}

/** Define `describe(<name>: scheduler contract)` with its tests. Call it at the top level of a mocha test file. */
export function schedulerContract(name: string, options: SchedulerContractOptions): void {
  describe(`${name}: scheduler contract (@ec/plugin-api/testing)`, function () {
    this.timeout(options.timeoutMs ?? 60_000)
    let scheduler: SchedulerBackend
    const consumers = new Set<string>()
    const hosts = new Set<string>()

    before(async () => {
      scheduler = await options.create()
    })
    after(async () => {
      for (const consumer of consumers) await scheduler?.release(consumer).catch(() => undefined)
      for (const host of hosts) await scheduler?.removeHost(host).catch(() => undefined)
      await scheduler?.close()
    })

    async function register(vcpus: number): Promise<HostIdentity> {
      const registration: HostRegistration = {
        name: `contract-${randomUUID().slice(0, 8)}`,
        inventory: [
          {resourceClass: 'VCPU', total: vcpus, reserved: 0, allocationRatio: 1},
          {resourceClass: 'MEMORY_MB', total: 4096, reserved: 0, allocationRatio: 1},
          {resourceClass: 'DISK_GB', total: 40, reserved: 0, allocationRatio: 1},
        ],
        traits: [],
      }
      const host = await scheduler.registerHost(registration)
      hosts.add(host.id)
      return host
    }

    /** Only on this host: tests never claim on anyone else's. */
    function ask(host: HostIdentity, resources: Record<string, number>): ResourceRequest {
      return {resources, requiredTraits: [], forbiddenTraits: [], memberOf: [], inTree: host.id}
    }

    function consumer(): string {
      const id = randomUUID()
      consumers.add(id)
      return id
    }

    it('registers a host and keeps its id when it registers again', async () => {
      const host = await register(2)
      assert.equal(typeof host.id, 'string')
      const again = await scheduler.registerHost({
        id: host.id,
        name: host.name,
        inventory: [{resourceClass: 'VCPU', total: 2, reserved: 0, allocationRatio: 1}],
        traits: [],
      })
      assert.equal(again.id, host.id)
      assert.ok((await scheduler.listHosts()).some((h) => h.id === host.id), 'listHosts() shows it')
    })

    it('claims on the host, reports the allocation, and releases it idempotently', async () => {
      const host = await register(4)
      const id = consumer()
      const claim = await scheduler.claim(id, ask(host, {VCPU: 2, MEMORY_MB: 512, DISK_GB: 1}))
      assert.equal(claim.consumerId, id)
      assert.equal(claim.hostId, host.id)
      assert.deepEqual(claim.allocations, {VCPU: 2, MEMORY_MB: 512, DISK_GB: 1})
      assert.deepEqual(await scheduler.allocations(id), {[host.id]: {VCPU: 2, MEMORY_MB: 512, DISK_GB: 1}})
      // Optional; when given, a build starts from it instead of asking allocations().
      if (claim.byProvider) assert.deepEqual(claim.byProvider, await scheduler.allocations(id), 'byProvider is what allocations() answers')
      assert.deepEqual((await scheduler.hostAllocations(host.id))[id], {VCPU: 2, MEMORY_MB: 512, DISK_GB: 1})
      await scheduler.release(id)
      assert.deepEqual(await scheduler.allocations(id), {})
      assert.equal((await scheduler.hostAllocations(host.id))[id], undefined)
      await scheduler.release(id)
      await scheduler.release(randomUUID())
    })

    it('never over-commits a host: of 6 racing claims for 1 of its 4 VCPUs, 4 hold and 2 fail with a reason', async () => {
      const host = await register(4)
      const ids = Array.from({length: 6}, consumer)
      const results = await Promise.allSettled(ids.map((id) => scheduler.claim(id, ask(host, {VCPU: 1}))))
      const held = results.filter((r) => r.status === 'fulfilled')
      assert.equal(held.length, 4)
      for (const r of results) {
        if (r.status === 'rejected') {
          const reason = (r.reason as {reason?: string}).reason
          assert.ok(reason === 'noCapacity' || reason === 'conflict', `a lost claim says why (${reason}: ${(r.reason as Error).message})`)
        }
      }

      const usage = Object.values(await scheduler.hostAllocations(host.id)).reduce((sum, a) => sum + (a.VCPU ?? 0), 0)
      assert.equal(usage, 4)
    })

    it('fails a claim nothing can take with reason noCapacity', async () => {
      const host = await register(1)
      await assert.rejects(scheduler.claim(consumer(), ask(host, {VCPU: 2})), (error: {reason?: string}) => error.reason === 'noCapacity')
    })

    it('takes a host out of scheduling and back', async () => {
      const host = await register(2)
      await scheduler.setSchedulable(host.id, false)
      await assert.rejects(scheduler.claim(consumer(), ask(host, {VCPU: 1})), (error: {reason?: string}) => error.reason === 'noCapacity')
      assert.equal((await scheduler.listHosts()).find((h) => h.id === host.id)?.schedulable, false)
      await scheduler.setSchedulable(host.id, true)
      await scheduler.claim(consumer(), ask(host, {VCPU: 1}))
    })

    it('refuses to remove a host that holds allocations (conflict), removes it once released, and again without error', async () => {
      const host = await register(2)
      const id = consumer()
      await scheduler.claim(id, ask(host, {VCPU: 1}))
      await assert.rejects(scheduler.removeHost(host.id), (error: {reason?: string}) => error.reason === 'conflict')
      await scheduler.release(id)
      await scheduler.removeHost(host.id)
      assert.equal((await scheduler.listHosts()).some((h) => h.id === host.id), false)
      await scheduler.removeHost(host.id)
    })
  })
}
