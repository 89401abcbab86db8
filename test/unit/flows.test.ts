// Core's create, build and delete flows on @ec/plugin-api/testing's in-memory
// backends: fast, and the backends behave as the contract says (the kit's
// suites run against them in packages/plugin-api/test).
import {expect} from 'chai'
import {randomBytes} from 'node:crypto'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {EcError, type HypervisorCapabilities, type TxnGuard, type TxnOp, type TxnResult} from '@ec/plugin-api'
import {MemoryHypervisor, MemoryScheduler, MemoryTransport} from '@ec/plugin-api/testing'

import {buildInstance, type HostServices, teardownInstance} from '../../src/agent/build.js'
import {COALESCE_MS} from '../../src/agent/build-record.js'
import {keys} from '../../src/instances/keys.js'
import type {InstanceSpec} from '../../src/instances/model.js'
import {smallSpec} from '../helpers/instance-spec.js'
import {markAlive, markDown} from '../helpers/liveness.js'
import {InstanceStore} from '../../src/instances/store.js'
import {createInstance} from '../../src/scheduling/create.js'
import {deleteInstance} from '../../src/scheduling/delete.js'

const quiet = {debug() {}, info() {}, warn() {}}

describe('create, build and delete on in-memory backends', () => {
  let dir: string
  let image: string
  let transport: MemoryTransport
  let store: InstanceStore
  let scheduler: MemoryScheduler
  let hostId: string

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ec-flows-'))
    image = join(dir, 'image.raw')
    await writeFile(image, randomBytes(4096))
    transport = new MemoryTransport()
    store = new InstanceStore(transport)
    scheduler = new MemoryScheduler()
    const inventory = [
      {resourceClass: 'VCPU', total: 2, reserved: 0, allocationRatio: 1},
      {resourceClass: 'MEMORY_MB', total: 2048, reserved: 0, allocationRatio: 1},
      {resourceClass: 'DISK_GB', total: 10, reserved: 0, allocationRatio: 1},
    ]
    hostId = (await scheduler.registerHost({name: 'mem-host', inventory, traits: ['CUSTOM_EC_HOST']})).id
    await markAlive(transport, hostId, 'mem-host')
  })
  afterEach(async () => {
    await transport.close()
    await rm(dir, {recursive: true, force: true})
  })

  function spec(overrides: Partial<InstanceSpec> = {}): InstanceSpec {
    return smallSpec(image, overrides)
  }

  function host(hypervisor: MemoryHypervisor, capabilities: HypervisorCapabilities): HostServices {
    return {hostId, guestReadyTimeoutMs: 1000, store, scheduler, hypervisor, capabilities, log: quiet}
  }

  const canDoAll: HypervisorCapabilities = {diskStrategies: ['overlay', 'copy'], smbios: true, cdrom: true, portForwarding: false, numaPinning: false}

  it('create claims and assigns; the build makes it ACTIVE; delete with the host down releases and removes everything', async () => {
    const created = await createInstance('web', spec(), {store, scheduler, pendingTimeoutSeconds: 60})
    const id = created.value.id
    expect(created.value.state).to.equal('SCHEDULED')
    expect(await scheduler.allocations(id)).to.deep.equal({[hostId]: {VCPU: 1, MEMORY_MB: 512, DISK_GB: 1}})
    expect(await transport.get(keys.assignment(hostId, id))).to.not.equal(undefined)

    const hypervisor = new MemoryHypervisor()
    await buildInstance(id, host(hypervisor, canDoAll), new AbortController().signal)
    expect((await store.get(id))?.value.state).to.equal('ACTIVE')
    expect((await hypervisor.list()).map((g) => [g.id, g.state])).to.deep.equal([[id, 'running']])

    await markDown(transport, hostId)
    expect(await deleteInstance('web', {store, scheduler, timeoutSeconds: 5})).to.equal('deleted-host-down')
    expect(await scheduler.allocations(id)).to.deep.equal({})
    expect((await transport.list('')).items.map((kv) => kv.key)).to.deep.equal([])
  })

  it('a teardown says its guest is gone before the record goes, so the audit never sees the guest without its record', async () => {
    const {id} = (await createInstance('web', spec(), {store, scheduler, pendingTimeoutSeconds: 60})).value
    const hypervisor = new MemoryHypervisor()
    await buildInstance(id, host(hypervisor, canDoAll), new AbortController().signal)
    const seen: Array<{guests: string[]; record: boolean}> = []
    const guestRemoved = async () => void seen.push({guests: (await hypervisor.list()).map((g) => g.id), record: (await store.get(id)) !== undefined})
    await teardownInstance(id, {...host(hypervisor, canDoAll), guestRemoved})
    expect(seen).to.deep.equal([{guests: [], record: true}])
    expect(await store.get(id)).to.equal(undefined)
  })

  /** etcd stops answering on the first commit: after applying it (the answer is lost), or before it left (`notApplied`). */
  class FirstCommitUnanswered extends MemoryTransport {
    reads = 0
    private answered = false
    constructor(private readonly applied: boolean) {
      super()
    }

    override async commit(guards: TxnGuard[], ops: TxnOp[]): Promise<TxnResult> {
      if (this.answered) return super.commit(guards, ops)
      this.answered = true
      if (this.applied) await super.commit(guards, ops)
      throw new EcError('unavailable', 'etcd at test does not answer', {notApplied: !this.applied})
    }

    override async get(key: string) {
      this.reads++
      return super.get(key)
    }
  }

  for (const applied of [true, false]) {
    it(`a first write whose answer is lost ${applied ? 'after etcd applied it is taken back' : 'before it left needs nothing'}: exit 4 leaves no record or name`, async () => {
      const unanswered = new FirstCommitUnanswered(applied)
      try {
        const failure = await createInstance('lost', spec(), {store: new InstanceStore(unanswered), scheduler, pendingTimeoutSeconds: 60}).catch((error: Error) => error)
        expect((failure as {reason?: string}).reason).to.equal('unavailable')
        expect((await unanswered.list('')).items).to.deep.equal([])
        expect(unanswered.reads, 'reads after the lost write').to.equal(applied ? 1 : 0)
        expect(await scheduler.hostAllocations(hostId)).to.deep.equal({})
      } finally {
        await unanswered.close()
      }
    })
  }

  it('a request no host can hold leaves no record, no name and no allocation', async () => {
    let failure: (Error & {reason?: string}) | undefined
    await createInstance('big', spec({vcpus: 4, resources: {VCPU: 4, MEMORY_MB: 512, DISK_GB: 1}}), {store, scheduler, pendingTimeoutSeconds: 60}).catch(
      (error: Error) => (failure = error),
    )
    expect(failure?.reason).to.equal('noCapacity')
    expect((await transport.list('')).items.map((kv) => kv.key)).to.deep.equal([keys.alive(hostId)])
    expect(await scheduler.hostAllocations(hostId)).to.deep.equal({})
  })

  /** A second host, with less room than mem-host: the pack policy takes it first. */
  async function smallerHost(): Promise<string> {
    const inventory = [
      {resourceClass: 'VCPU', total: 1, reserved: 0, allocationRatio: 1},
      {resourceClass: 'MEMORY_MB', total: 1024, reserved: 0, allocationRatio: 1},
      {resourceClass: 'DISK_GB', total: 10, reserved: 0, allocationRatio: 1},
    ]
    return (await scheduler.registerHost({name: 'agentless', inventory, traits: ['CUSTOM_EC_HOST']})).id
  }

  it('never schedules onto a host whose agent is down: that claim is released and the next host taken', async () => {
    const agentless = await smallerHost()
    const created = await createInstance('web', spec(), {store, scheduler, pendingTimeoutSeconds: 60})
    expect(created.value.host?.name).to.equal('mem-host')
    expect(await scheduler.hostAllocations(agentless)).to.deep.equal({})
    // The same host, its agent up: taken first, as the policy says (so the test above saw it skipped).
    await markAlive(transport, agentless, 'agentless')
    expect((await createInstance('web2', spec(), {store, scheduler, pendingTimeoutSeconds: 60})).value.host?.name).to.equal('agentless')
  })

  it('when no host with room has its agent up, takes one of them after all and says the build waits for its agent', async () => {
    const agentless = await smallerHost()
    await markDown(transport, hostId)
    const claimed: string[] = []
    const created = await createInstance('web', spec(), {
      store,
      scheduler,
      pendingTimeoutSeconds: 60,
      onStep: (step, phase, detail) => step === 'claim' && phase === 'finished' && claimed.push(detail ?? ''),
    })
    expect(created.value.state).to.equal('SCHEDULED')
    expect(created.value.host?.name).to.equal('agentless') // the policy's first choice again
    expect(claimed).to.deep.equal(['on agentless (its agent is down: the build starts when it returns)'])
    expect(await transport.get(keys.assignment(agentless, created.value.id))).to.not.equal(undefined)
    expect(await scheduler.hostAllocations(hostId)).to.deep.equal({})
  })

  it('asks the hypervisor for nothing it cannot do: a disk strategy it lacks ends in ERROR with the reason, holding nothing', async () => {
    const created = await createInstance('copy', spec({diskStrategy: 'copy'}), {store, scheduler, pendingTimeoutSeconds: 60})
    const id = created.value.id
    const hypervisor = new MemoryHypervisor()
    await buildInstance(id, host(hypervisor, {...canDoAll, diskStrategies: ['overlay']}), new AbortController().signal)
    const record = (await store.get(id))!.value
    expect(record.state).to.equal('ERROR')
    expect(record.error?.reason).to.match(/cannot prepare a copy disk \(it can: overlay\)/)
    expect(await scheduler.allocations(id)).to.deep.equal({})
    expect(await hypervisor.list()).to.deep.equal([])
  })

  it('starts no guest whose allocation was released while its build waited: ERROR with the reason, nothing made', async () => {
    const {id} = (await createInstance('gone', spec(), {store, scheduler, pendingTimeoutSeconds: 60})).value
    await scheduler.release(id) // behind ec's back, between the claim and the build
    // The build comes a minute after the claim (its agent was down): it asks the scheduler.
    await store.update(id, (r) => ({...r, steps: {...r.steps, claim: {started: r.steps.claim!.started, finished: new Date(Date.now() - 60_000).toISOString()}}}))
    const hypervisor = new MemoryHypervisor()
    await buildInstance(id, host(hypervisor, canDoAll), new AbortController().signal)
    const record = (await store.get(id))!.value
    expect(record.state).to.equal('ERROR')
    expect(record.error).to.include({step: 'accepted', reason: 'it holds no allocation in the scheduler any more (released while it waited)'})
    expect(record.allocationsByProvider).to.equal(undefined)
    expect(await hypervisor.list()).to.deep.equal([])
  })

  it('a prompt first build starts from the claim in its record without asking the scheduler; a resumed one asks', async () => {
    const {id, allocationsByProvider} = (await createInstance('prompt', spec(), {store, scheduler, pendingTimeoutSeconds: 60})).value
    expect(allocationsByProvider).to.deep.equal({[hostId]: {VCPU: 1, MEMORY_MB: 512, DISK_GB: 1}})
    const asked: string[] = []
    const allocations = scheduler.allocations.bind(scheduler)
    scheduler.allocations = async (consumer) => (asked.push(consumer), allocations(consumer))
    const hypervisor = new MemoryHypervisor()
    await buildInstance(id, host(hypervisor, canDoAll), new AbortController().signal)
    expect((await store.get(id))?.value.state).to.equal('ACTIVE')
    expect(asked).to.deep.equal([])

    // A build an agent restart interrupted is resumed as a second attempt: that one asks.
    const resumed = (await createInstance('resumed', spec(), {store, scheduler, pendingTimeoutSeconds: 60})).value.id
    await store.update(resumed, (r) => ({...r, state: 'BUILDING', buildAttempts: 1}))
    await buildInstance(resumed, host(hypervisor, canDoAll), new AbortController().signal)
    expect(asked).to.deep.equal([resumed])
    expect((await store.get(resumed))?.value.state).to.equal('ACTIVE')
  })

  it('times each step when it happens, not when its write goes out: quick steps written together keep their own times', async () => {
    const {id} = (await createInstance('timed', spec(), {store, scheduler, pendingTimeoutSeconds: 60})).value
    const hypervisor = new MemoryHypervisor()
    const start = hypervisor.start.bind(hypervisor)
    const slowStartMs = 400
    hypervisor.start = async (guest) => (await new Promise((resolve) => setTimeout(resolve, slowStartMs)), start(guest))
    await buildInstance(id, host(hypervisor, canDoAll), new AbortController().signal)
    const {state, steps} = (await store.get(id))!.value
    expect(state).to.equal('ACTIVE')
    const ms = (step: keyof typeof steps) => Date.parse(steps[step]!.finished!) - Date.parse(steps[step]!.started)
    // The define step ends when the start begins; it took no time of its own.
    expect(ms('define')).to.be.lessThan(COALESCE_MS)
    expect(ms('boot')).to.be.greaterThanOrEqual(slowStartMs)
  })

  it('refuses --publish on a hypervisor that cannot forward ports', async () => {
    const created = await createInstance('pub', spec({publish: [{guest: 80, host: 0, proto: 'tcp'}]}), {store, scheduler, pendingTimeoutSeconds: 60})
    await buildInstance(created.value.id, host(new MemoryHypervisor(), canDoAll), new AbortController().signal)
    const record = (await store.get(created.value.id))!.value
    expect(record.state).to.equal('ERROR')
    expect(record.error?.reason).to.match(/cannot forward ports into guests; create the instance without --publish/)
  })
})
