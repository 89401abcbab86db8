// Server groups through core's create and delete on @ec/plugin-api/testing's
// in-memory backends: many creates in flight at once in one process, so the
// group key's compare-and-swap is raced on every join.
import {expect} from 'chai'

import {MemoryScheduler, MemoryTransport} from '@ec/plugin-api/testing'

import {GroupPlacement, GroupStore} from '../../src/groups/store.js'
import type {InstanceRecord, InstanceSpec} from '../../src/instances/model.js'
import {smallSpec} from '../helpers/instance-spec.js'
import {markAlive, markDown} from '../helpers/liveness.js'
import {InstanceStore} from '../../src/instances/store.js'
import {createInstance} from '../../src/scheduling/create.js'
import {deleteInstance} from '../../src/scheduling/delete.js'

const HOSTS = 5

describe('server groups on in-memory backends (concurrent creates race the group key)', () => {
  let transport: MemoryTransport
  let store: InstanceStore
  let scheduler: MemoryScheduler
  let groups: GroupStore

  beforeEach(async () => {
    transport = new MemoryTransport()
    store = new InstanceStore(transport)
    scheduler = new MemoryScheduler()
    groups = new GroupStore(store)
    for (let i = 1; i <= HOSTS; i++) {
      const host = await scheduler.registerHost({
        name: `h${i}`,
        traits: ['CUSTOM_EC_HOST'],
        inventory: [
          {resourceClass: 'VCPU', total: 20, reserved: 0, allocationRatio: 1},
          {resourceClass: 'MEMORY_MB', total: 20 * 512, reserved: 0, allocationRatio: 1},
          {resourceClass: 'DISK_GB', total: 20, reserved: 0, allocationRatio: 1},
        ],
      })
      await markAlive(transport, host.id, host.name)
    }
  })
  afterEach(() => transport.close())

  const spec = (group: string): InstanceSpec => smallSpec('/dev/null', {group})

  /** No agent runs here: delete as for a host that is down (released at once), the host then counted up again. */
  async function deleteWithoutAgent(record: InstanceRecord): Promise<void> {
    await markDown(transport, record.host!.id)
    await deleteInstance(record.id, {store, scheduler, timeoutSeconds: 1, noWait: true})
    await markAlive(transport, record.host!.id, record.host!.name)
  }

  const createMany = (group: string, count: number) =>
    Promise.allSettled(
      Array.from({length: count}, (_, i) =>
        createInstance(`${group}-${i}`, spec(group), {store, scheduler, group: new GroupPlacement(store, group), pendingTimeoutSeconds: 60}),
      ),
    )

  async function held(): Promise<number> {
    let total = 0
    for (const host of await scheduler.listHosts()) total += Object.keys(await scheduler.hostAllocations(host.id)).length
    return total
  }

  it('hard anti-affinity: 20 at once over 5 hosts, exactly 5 join (one a host), the rest fail noCapacity naming the group and leave nothing', async () => {
    await groups.create({name: 'apart', policy: 'anti-affinity', soft: false, maxPerHost: 1})
    const results = await createMany('apart', 20)
    const ok = results.filter((r) => r.status === 'fulfilled').map((r) => r.value.value)
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as {reason: string; message: string})
    expect(ok).to.have.length(HOSTS)
    expect(new Set(ok.map((r) => r.host!.id)).size).to.equal(HOSTS)
    for (const error of failed) {
      expect(error.reason, error.message).to.equal('noCapacity')
      expect(error.message).to.match(/^no valid host for group "apart" \(anti-affinity, at most 1 per host, hard/)
    }

    const group = (await groups.require('apart')).value
    expect(Object.keys(group.members).sort()).to.deep.equal(ok.map((r) => r.id).sort())
    expect((await store.list()).records).to.have.length(HOSTS)
    expect(await held(), 'no claim of a refused create is left').to.equal(HOSTS)
  })

  it('hard affinity: 10 at once all join the host the first member took', async () => {
    await groups.create({name: 'together', policy: 'affinity', soft: false})
    const results = await createMany('together', 10)
    const ok = results.filter((r) => r.status === 'fulfilled').map((r) => r.value.value)
    expect(ok).to.have.length(10)
    expect(new Set(ok.map((r) => r.host!.id)).size).to.equal(1)
    expect(await held()).to.equal(10)
  })

  it('a deleted member leaves the group and frees its host; the group can then be deleted', async () => {
    await groups.create({name: 'solo', policy: 'anti-affinity', soft: false, maxPerHost: 1})
    const results = await createMany('solo', HOSTS)
    const ok = results.filter((r) => r.status === 'fulfilled').map((r) => r.value.value)
    expect(ok).to.have.length(HOSTS)
    const refused = await groups.delete('solo').then(() => undefined, (error: Error) => error)
    expect(refused?.message).to.match(/^group "solo" still has 5 members/)
    await deleteWithoutAgent(ok[0])
    expect(Object.keys((await groups.require('solo')).value.members)).to.not.include(ok[0].id)
    const again = await createInstance('again', spec('solo'), {store, scheduler, group: new GroupPlacement(store, 'solo'), pendingTimeoutSeconds: 60})
    expect(again.value.host!.id).to.equal(ok[0].host!.id)
    for (const record of [...ok.slice(1), again.value]) await deleteWithoutAgent(record)
    expect(await groups.delete('solo')).to.equal(true)
    expect(await held()).to.equal(0)
  })
})
