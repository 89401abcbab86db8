// BuildRecord over the in-memory transport: quick changes collapse into one
// write, a change left alone is still written within COALESCE_MS, a flush
// writes at once, and a record that stopped being BUILDING is noticed.
import {MemoryTransport} from '@ec/plugin-api/testing'
import type {TxnGuard, TxnOp, TxnResult} from '@ec/plugin-api'
import {expect} from 'chai'

import {BuildRecord, COALESCE_MS} from '../../src/agent/build-record.js'
import type {InstanceRecord} from '../../src/instances/model.js'
import {InstanceStore, type Versioned} from '../../src/instances/store.js'

class CountingTransport extends MemoryTransport {
  commits = 0

  override async commit(guards: TxnGuard[], ops: TxnOp[]): Promise<TxnResult> {
    this.commits++
    return super.commit(guards, ops)
  }
}

function building(): InstanceRecord {
  const at = new Date().toISOString()
  return {
    id: '6f1d0c1e-3b7a-4c55-9d4e-0a1b2c3d4e5f',
    name: 'web1',
    state: 'BUILDING',
    spec: {vcpus: 1, memoryMb: 128, diskGb: 1, resources: {VCPU: 1}, requiredTraits: [], forbiddenTraits: [], memberOf: [], image: {ref: '/x', path: '/x'}, publicKeys: [], meta: {}},
    steps: {},
    buildAttempts: 1,
    createdAt: at,
    updatedAt: at,
  }
}

/** Polls until `done` holds, failing after `ms`. */
async function until(done: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await done())) {
    if (Date.now() > deadline) expect.fail(`not within ${ms} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe('build record: quick steps go out together', () => {
  let transport: CountingTransport
  let store: InstanceStore
  let created: Versioned<InstanceRecord>

  beforeEach(async () => {
    transport = new CountingTransport()
    store = new InstanceStore(transport)
    created = await store.create(building())
    transport.commits = 0
  })

  it('writes changes applied one after another as one write when flushed, and leaves no write behind on a timer', async () => {
    const written = new BuildRecord(store, created)
    written.apply((r) => void (r.step = 'disk'))
    written.apply((r) => void (r.step = 'define'))
    written.apply((r) => void (r.step = 'boot'))
    const started = Date.now()
    await written.flush()
    expect(transport.commits).to.equal(1)
    expect((await store.get(created.value.id))?.value.step).to.equal('boot')
    // Nothing was left on a timer: no second write comes later.
    await new Promise((resolve) => setTimeout(resolve, COALESCE_MS * 2))
    expect(transport.commits).to.equal(1)
    expect(Date.now() - started).to.be.greaterThanOrEqual(COALESCE_MS * 2) // the wait above is real, so the count means something
  })

  it('writes a change left alone without a flush (a slow step shows as it starts)', async () => {
    const written = new BuildRecord(store, created)
    written.apply((r) => void (r.step = 'guest'))
    expect(transport.commits).to.equal(0) // not at once
    await until(async () => (await store.get(created.value.id))?.value.step === 'guest', 10_000, 'the queued step was written')
    expect(transport.commits).to.equal(1)
  })

  it('notices a record that is no longer BUILDING, and writes nothing into it', async () => {
    await store.update(created.value.id, (r) => ({...r, state: 'DELETING'}))
    transport.commits = 0
    const written = new BuildRecord(store, created)
    written.apply((r) => void (r.step = 'boot'))
    await written.flush()
    expect(written.superseded).to.equal(true)
    const current = (await store.get(created.value.id))?.value
    expect(current?.state).to.equal('DELETING')
    expect(current?.step).to.equal(undefined)
  })
})
