// InstanceStore over an in-memory transport that can apply a commit and then
// fail it on the way back (as a deadline that expires after etcd applied a
// transaction does), or stall for a while: every write must be safe to repeat.
import {expect} from 'chai'

import {keys} from '../../src/instances/keys.js'
import type {InstanceRecord} from '../../src/instances/model.js'
import {InstanceStore} from '../../src/instances/store.js'
import type {KeyValue, TransportBackend, TxnGuard, TxnOp, TxnResult} from '@ec/plugin-api'

class Unavailable extends Error {
  readonly reason = 'unavailable'
}

/** A revisioned map; `loseReplies` commits are applied and then reported as failures; `stalls` calls fail before reaching it. */
class FlakyTransport implements Pick<TransportBackend, 'get' | 'list' | 'commit'> {
  readonly data = new Map<string, KeyValue>()
  revision = 0
  loseReplies = 0
  stalls = 0
  commits = 0

  async get(key: string): Promise<KeyValue | undefined> {
    this.stall()
    return this.data.get(key)
  }

  async list(prefix: string): Promise<{items: KeyValue[]; revision: string}> {
    this.stall()
    return {items: [...this.data.values()].filter((kv) => kv.key.startsWith(prefix)), revision: String(this.revision)}
  }

  async commit(guards: TxnGuard[], ops: TxnOp[]): Promise<TxnResult> {
    this.stall()
    this.commits++
    const holds = guards.every((g) => (g.modRevision === null ? !this.data.has(g.key) : this.data.get(g.key)?.modRevision === g.modRevision))
    if (holds) {
      this.revision++
      for (const op of ops) {
        if (op.op === 'delete') this.data.delete(op.key)
        else this.data.set(op.key, {key: op.key, value: op.value, modRevision: String(this.revision), createRevision: String(this.revision)})
      }
    }

    if (this.loseReplies > 0) {
      this.loseReplies--
      throw new Unavailable('deadline exceeded (the reply was lost)')
    }

    return {ok: holds, revision: holds ? String(this.revision) : undefined}
  }

  private stall(): void {
    if (this.stalls > 0) {
      this.stalls--
      throw new Unavailable('etcd does not answer')
    }
  }
}

function record(name: string, id = '6f1d0c1e-3b7a-4c55-9d4e-0a1b2c3d4e5f'): InstanceRecord {
  const at = new Date().toISOString()
  return {
    id,
    name,
    state: 'PENDING',
    spec: {vcpus: 1, memoryMb: 128, diskGb: 1, resources: {VCPU: 1}, requiredTraits: [], forbiddenTraits: [], memberOf: [], image: {ref: '/x', path: '/x'}, publicKeys: [], meta: {}},
    steps: {},
    buildAttempts: 0,
    createdAt: at,
    updatedAt: at,
  }
}

describe('instance store: writes safe to repeat', () => {
  let transport: FlakyTransport
  let store: InstanceStore

  beforeEach(async () => {
    transport = new FlakyTransport()
    store = new InstanceStore(transport as unknown as TransportBackend, {stallBudgetMs: 5000})
    await store.list() // reached once: stalls are waited out from here on
  })

  it('a create whose reply was lost and is repeated finds its own name, not a conflict', async () => {
    transport.loseReplies = 1
    const created = await store.create(record('web1'))
    expect(created.value.name).to.equal('web1')
    expect(transport.commits).to.equal(2) // applied, reply lost, repeated: the guard failed on its own write
    expect(transport.data.get(keys.name('web1'))?.value).to.equal(created.value.id)
  })

  it('a create still conflicts when another instance holds the name', async () => {
    await store.create(record('web1'))
    transport.loseReplies = 0
    try {
      await store.create(record('web1', '0f1d0c1e-3b7a-4c55-9d4e-0a1b2c3d4e5f'))
      expect.fail('a second instance took a taken name')
    } catch (error) {
      expect((error as {reason: string}).reason).to.equal('conflict')
    }
  })

  it('an update whose reply was lost recognises its own write and applies the change once', async () => {
    const created = await store.create(record('web1'))
    transport.loseReplies = 1
    let calls = 0
    const updated = await store.update(created.value.id, (r) => {
      calls++
      return {...r, state: 'SCHEDULED'}
    })
    expect(updated?.value.state).to.equal('SCHEDULED')
    expect(calls).to.equal(1)
    expect(JSON.parse(transport.data.get(keys.instance(created.value.id))!.value).state).to.equal('SCHEDULED')
  })

  it('waits out a stall of a transport it reached before', async () => {
    transport.stalls = 3
    expect((await store.create(record('web2'))).value.name).to.equal('web2')
  })

  it('reports at once a transport it never reached', async () => {
    const fresh = new FlakyTransport()
    fresh.stalls = 1
    const unreached = new InstanceStore(fresh as unknown as TransportBackend, {stallBudgetMs: 5000})
    try {
      await unreached.list()
      expect.fail('a store that never reached its transport waited')
    } catch (error) {
      expect((error as {reason: string}).reason).to.equal('unavailable')
    }
  })
})
