// The etcd transport against a real etcd started by `ec up`.
import {expect} from 'chai'
import {Etcd3} from 'etcd3'
import {setTimeout as sleep} from 'node:timers/promises'

import {startControlPlane, type TestControlPlane} from '../../../test/helpers/control-plane.js'
import {etcd3Options} from '../../../test/helpers/etcd.js'
import {freePorts} from '../../../test/helpers/ports.js'
import type {WatchEvent} from '@ec/plugin-api'
import {EtcdTransport} from '../src/transport.js'

function describeEvent(e: WatchEvent): string {
  return e.type === 'put' ? `put ${e.kv.key}=${e.kv.value}` : `delete ${e.key}`
}

async function waitFor(predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await sleep(20)
  }
}

describe('etcd transport (real etcd)', function () {
  this.timeout(90_000)
  let cp: TestControlPlane
  let transport: EtcdTransport
  let prefixCounter = 0
  let prefix: string
  before(async () => {
    cp = await startControlPlane()
  })
  after(async () => cp?.stop())
  beforeEach(() => {
    prefix = `/t${++prefixCounter}`
    transport = new EtcdTransport({endpoints: [cp.etcdEndpoint], prefix, timeoutMs: 3000, tls: cp.clientTls})
  })
  afterEach(async () => transport.close())

  it('keeps keys relative to its prefix and never reads a neighbouring prefix', async () => {
    const neighbour = new EtcdTransport({endpoints: [cp.etcdEndpoint], prefix: prefix + '0', timeoutMs: 3000, tls: cp.clientTls})
    try {
      await neighbour.commit([], [{op: 'put', key: 'instances/x', value: 'not mine'}])
      await transport.commit([], [{op: 'put', key: 'instances/a', value: '1'}])
      const {items} = await transport.list('instances/')
      expect(items.map((kv) => [kv.key, kv.value])).to.deep.equal([['instances/a', '1']])
      expect((await transport.get('instances/a'))?.value).to.equal('1')
      expect(await transport.get('instances/x')).to.equal(undefined)
    } finally {
      await neighbour.close()
    }
  })

  it('sends a call that cannot connect to one member to the next: a member down fails no call', async () => {
    const [deadPort] = await freePorts(1)
    const cluster = new EtcdTransport({endpoints: [`https://127.0.0.1:${deadPort}`, cp.etcdEndpoint], prefix, timeoutMs: 3000, tls: cp.clientTls})
    try {
      // Each call draws a member at random: without moving on, about half would fail.
      for (let i = 0; i < 20; i++) {
        expect((await cluster.commit([], [{op: 'put', key: `k${i}`, value: 'v'}])).ok).to.equal(true)
        expect((await cluster.list('')).items).to.have.length(i + 1)
      }
    } finally {
      await cluster.close()
    }
  })

  it('creates a key only when absent and swaps only at the expected revision', async () => {
    const created = await transport.commit([{key: 'k', modRevision: null}], [{op: 'put', key: 'k', value: 'v1'}])
    expect(created.ok).to.equal(true)
    const again = await transport.commit([{key: 'k', modRevision: null}], [{op: 'put', key: 'k', value: 'v2'}])
    expect(again.ok).to.equal(false)
    const current = (await transport.get('k'))!
    expect(current.value).to.equal('v1')
    expect(current.modRevision).to.equal(created.revision)
    const swapped = await transport.commit([{key: 'k', modRevision: current.modRevision}], [{op: 'put', key: 'k', value: 'v3'}])
    expect(swapped.ok).to.equal(true)
    const stale = await transport.commit([{key: 'k', modRevision: current.modRevision}], [{op: 'put', key: 'k', value: 'v4'}])
    expect(stale.ok).to.equal(false)
    expect((await transport.get('k'))!.value).to.equal('v3')
  })

  it('writes several keys atomically or not at all', async () => {
    await transport.commit([], [{op: 'put', key: 'guard', value: 'g'}])
    const failed = await transport.commit(
      [{key: 'guard', modRevision: '1'}],
      [
        {op: 'put', key: 'a', value: 'x'},
        {op: 'delete', key: 'guard'},
      ],
    )
    expect(failed.ok).to.equal(false)
    expect(await transport.get('a')).to.equal(undefined)
    expect(await transport.get('guard')).to.not.equal(undefined)
  })

  it('lets 20 racing writers each win a create-if-absent exactly once', async () => {
    const results = await Promise.all(
      Array.from({length: 20}, (_, i) =>
        transport.commit([{key: 'race', modRevision: null}], [{op: 'put', key: 'race', value: String(i)}]),
      ),
    )
    expect(results.filter((r) => r.ok)).to.have.length(1)
  })

  it('replays history after a revision, in order, without repeats', async () => {
    const {revision} = await transport.list('w/')
    for (const i of [1, 2, 3]) await transport.commit([], [{op: 'put', key: `w/${i}`, value: String(i)}])
    await transport.commit([], [{op: 'delete', key: 'w/2'}])
    const seen: string[] = []
    const watch = await transport.watch('w/', {afterRevision: revision, onEvents: (events) => void seen.push(...events.map(describeEvent))})
    await waitFor(() => seen.length >= 4)
    await transport.commit([], [{op: 'put', key: 'w/4', value: '4'}])
    await waitFor(() => seen.length >= 5)
    await sleep(200)
    await watch.close()
    expect(seen).to.deep.equal(['put w/1=1', 'put w/2=2', 'put w/3=3', 'delete w/2', 'put w/4=4'])
  })

  it('delivers one batch at a time: the next waits for the handler', async () => {
    const {revision} = await transport.list('slow/')
    const log: string[] = []
    const watch = await transport.watch('slow/', {
      afterRevision: revision,
      async onEvents(events) {
        log.push(`start ${events.map(describeEvent).join(',')}`)
        await sleep(100)
        log.push('end')
      },
    })
    await transport.commit([], [{op: 'put', key: 'slow/a', value: '1'}])
    await transport.commit([], [{op: 'put', key: 'slow/b', value: '2'}])
    await waitFor(() => log.length >= 4)
    await watch.close()
    expect(log).to.deep.equal(['start put slow/a=1', 'end', 'start put slow/b=2', 'end'])
  })

  it('resumes after etcd restarts: writes made while it reconnects are neither lost nor repeated', async () => {
    const {revision} = await transport.list('r/')
    const seen: string[] = []
    const watch = await transport.watch('r/', {afterRevision: revision, onEvents: (events) => void seen.push(...events.map(describeEvent))})
    await transport.commit([], [{op: 'put', key: 'r/before', value: '1'}])
    await waitFor(() => seen.length === 1)
    expect((await cp.ec(['down'])).code).to.equal(0)
    const up = await cp.ec(['up'])
    expect(up.code, up.stderr).to.equal(0)
    // Another client writes at once, while our watcher is still backing off.
    const writer = new EtcdTransport({endpoints: [cp.etcdEndpoint], prefix, timeoutMs: 3000, tls: cp.clientTls})
    try {
      for (let i = 0; i < 5; i++) await writer.commit([], [{op: 'put', key: `r/after${i}`, value: String(i)}])
    } finally {
      await writer.close()
    }

    await waitFor(() => seen.length >= 6, 30_000)
    await sleep(300)
    await watch.close()
    expect(seen).to.deep.equal(['put r/before=1', ...Array.from({length: 5}, (_, i) => `put r/after${i}=${i}`)])
  })

  it('reports a watch from compacted history so the caller can list again', async () => {
    await transport.commit([], [{op: 'put', key: 'c/a', value: '1'}])
    const {revision} = await transport.list('c/')
    await transport.commit([], [{op: 'put', key: 'c/a', value: '2'}])
    const admin = new Etcd3(etcd3Options(cp.etcdEndpoint))
    try {
      const latest = (await admin.get('x').exec()).header.revision
      await admin.kv.compact({revision: latest, physical: true})
    } finally {
      admin.close()
    }

    const failure = new Promise<Error>((resolve) => {
      void transport.watch('c/', {afterRevision: String(Number(revision) - 1), onEvents() {}, onError: resolve})
    })
    const error = (await failure) as Error & {compacted?: boolean}
    expect(error.compacted).to.equal(true)
    expect(error.message).to.match(/compacted the history of c\/ .*list again/)
  })

  it('drops keys bound to a lease when the lease is revoked, and reports the loss', async () => {
    const lease = await transport.grantLease(5)
    await transport.commit([], [{op: 'put', key: 'alive/host', value: 'yes', lease: lease.id}])
    expect((await transport.get('alive/host'))?.value).to.equal('yes')
    const admin = new Etcd3(etcd3Options(cp.etcdEndpoint))
    try {
      await admin.lease(5, {autoKeepAlive: false}).revoke().catch(() => undefined)
      // Revoke ours from outside, as an operator or a partition would.
      await admin.leaseClient.leaseRevoke({ID: lease.id})
    } finally {
      admin.close()
    }

    await lease.lost
    expect(await transport.get('alive/host')).to.equal(undefined)
  })

  it('fails fast with one line naming the endpoint when etcd does not answer', async () => {
    const [port] = await freePorts(1)
    const dead = new EtcdTransport({endpoints: [`http://127.0.0.1:${port}`], prefix: '/ec', timeoutMs: 1000})
    const started = Date.now()
    try {
      await dead.get('x')
      expect.fail('get succeeded against a dead endpoint')
    } catch (error) {
      expect(error).to.include({reason: 'unavailable'})
      expect((error as Error).message).to.equal(
        `etcd at http://127.0.0.1:${port} does not answer; start a local control plane with "ec up" or set etcd.endpoints (EC_ETCD_ENDPOINTS)`,
      )
    } finally {
      await dead.close()
    }

    expect(Date.now() - started).to.be.below(10_000)
    expect((await dead.health()).ok).to.equal(false)
  })
})
