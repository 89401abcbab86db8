// The transport contract as mocha tests any TransportBackend runs against
// itself: compare-and-swap writes, atomic multi-key commits, watches that
// replay from a revision in order and one batch at a time, what happens after
// onError, leases, and (given a way to interrupt the store) resuming a watch
// without losing or repeating events.
import assert from 'node:assert/strict'
import {setTimeout as sleep} from 'node:timers/promises'

import type {TransportBackend, WatchEvent} from '../transport.js'

export interface TransportContractOptions {
  /** A backend on a fresh, empty key space (e.g. a unique prefix); the suite closes it after each test. */
  create(): Promise<TransportBackend>
  /**
   * Optional: cut the backend off from its store and bring it back (restart
   * the server); the watch-resume test runs only when given. Resolves once
   * the store answers again.
   */
  interrupt?(): Promise<void>
  /** Per test; default 60 s. */
  timeoutMs?: number
}

function show(event: WatchEvent): string {
  return event.type === 'put' ? `put ${event.kv.key}=${event.kv.value}` : `delete ${event.key}`
}

async function until(what: string, predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await sleep(20)
  }
}

/** Define `describe(<name>: transport contract)` with its tests. Call it at the top level of a mocha test file. */
export function transportContract(name: string, options: TransportContractOptions): void {
  describe(`${name}: transport contract (@ec/plugin-api/testing)`, function () {
    this.timeout(options.timeoutMs ?? 60_000)
    let t: TransportBackend
    beforeEach(async () => {
      t = await options.create()
    })
    afterEach(async () => t?.close())

    it('reads back what it wrote, lists a prefix in key order with the revision it reflects', async () => {
      const put = await t.commit([], [{op: 'put', key: 'a/2', value: 'two'}, {op: 'put', key: 'a/1', value: 'one'}, {op: 'put', key: 'b/1', value: 'x'}])
      assert.equal(put.ok, true)
      const kv = await t.get('a/1')
      assert.equal(kv?.value, 'one')
      assert.equal(kv?.modRevision, kv?.createRevision, 'a new key was created at its mod revision')
      assert.equal(await t.get('a/3'), undefined)
      const listing = await t.list('a/')
      assert.deepEqual(listing.items.map((i) => [i.key, i.value]), [['a/1', 'one'], ['a/2', 'two']])
      assert.ok(BigInt(listing.revision) >= BigInt(kv!.modRevision), 'the listing revision covers the writes')
    })

    it('creates a key only when absent: of 10 racing creators exactly one wins', async () => {
      const results = await Promise.all(
        Array.from({length: 10}, (_, i) => t.commit([{key: 'race', modRevision: null}], [{op: 'put', key: 'race', value: String(i)}])),
      )
      assert.equal(results.filter((r) => r.ok).length, 1)
    })

    it('swaps only at the expected mod revision, and a failed guard applies nothing', async () => {
      await t.commit([], [{op: 'put', key: 'k', value: 'v1'}])
      const v1 = (await t.get('k'))!
      assert.equal((await t.commit([{key: 'k', modRevision: v1.modRevision}], [{op: 'put', key: 'k', value: 'v2'}])).ok, true)
      const stale = await t.commit([{key: 'k', modRevision: v1.modRevision}], [{op: 'put', key: 'k', value: 'v3'}, {op: 'put', key: 'other', value: 'x'}])
      assert.equal(stale.ok, false)
      assert.equal((await t.get('k'))?.value, 'v2')
      assert.equal(await t.get('other'), undefined, 'no op of a failed commit is applied')
      const both = await t.commit([{key: 'k', modRevision: (await t.get('k'))!.modRevision}], [{op: 'delete', key: 'k'}, {op: 'put', key: 'other', value: 'y'}])
      assert.equal(both.ok, true)
      assert.equal(await t.get('k'), undefined)
      assert.equal((await t.get('other'))?.value, 'y')
    })

    it('replays history after a revision in order, then follows, without repeats', async () => {
      const start = (await t.list('w/')).revision
      await t.commit([], [{op: 'put', key: 'w/a', value: '1'}])
      await t.commit([], [{op: 'put', key: 'w/a', value: '2'}])
      await t.commit([], [{op: 'delete', key: 'w/a'}])
      await t.commit([], [{op: 'put', key: 'elsewhere', value: 'x'}])
      const seen: string[] = []
      const watch = await t.watch('w/', {afterRevision: start, onEvents: (events) => void seen.push(...events.map(show))})
      try {
        await t.commit([], [{op: 'put', key: 'w/b', value: '3'}])
        await until('4 events arrived', () => seen.length >= 4)
        await sleep(300)
        assert.deepEqual(seen, ['put w/a=1', 'put w/a=2', 'delete w/a', 'put w/b=3'])
      } finally {
        await watch.close()
      }
    })

    it('hands over one batch at a time: the next waits for the handler', async () => {
      let running = 0
      let overlapped = false
      const seen: string[] = []
      const watch = await t.watch('q/', {
        async onEvents(events) {
          running++
          if (running > 1) overlapped = true
          await sleep(50)
          seen.push(...events.map(show))
          running--
        },
      })
      try {
        for (let i = 0; i < 5; i++) await t.commit([], [{op: 'put', key: `q/${i}`, value: String(i)}])
        await until('5 events arrived', () => seen.length >= 5)
        assert.equal(overlapped, false, 'batches never overlap')
        assert.deepEqual(seen, [0, 1, 2, 3, 4].map((i) => `put q/${i}=${i}`))
      } finally {
        await watch.close()
      }
    })

    it('ends the watch when the handler throws: onError once with that error, nothing delivered after it', async () => {
      const seen: string[] = []
      const errors: Error[] = []
      const watch = await t.watch('e/', {
        onEvents(events) {
          seen.push(...events.map(show))
          if (events.some((e) => e.type === 'put' && e.kv.value === 'boom')) throw new Error('handler failed')
        },
        onError: (error) => void errors.push(error),
      })
      try {
        await t.commit([], [{op: 'put', key: 'e/1', value: 'boom'}])
        await until('onError was called', () => errors.length > 0)
        await t.commit([], [{op: 'put', key: 'e/2', value: 'after'}])
        await sleep(500)
        assert.deepEqual(seen, ['put e/1=boom'])
        assert.equal(errors.length, 1)
        assert.equal(errors[0].message, 'handler failed')
      } finally {
        await watch.close()
      }
    })

    it('delivers nothing after close()', async () => {
      const seen: string[] = []
      const watch = await t.watch('c/', {onEvents: (events) => void seen.push(...events.map(show))})
      await watch.close()
      await t.commit([], [{op: 'put', key: 'c/1', value: 'late'}])
      await sleep(300)
      assert.deepEqual(seen, [])
    })

    it('removes the keys of a lease when it is revoked', async () => {
      const lease = await t.grantLease(30)
      await t.commit([], [{op: 'put', key: 'l/alive', value: 'yes', lease: lease.id}, {op: 'put', key: 'l/kept', value: 'yes'}])
      assert.equal((await t.get('l/alive'))?.value, 'yes')
      await lease.revoke()
      const deadline = Date.now() + 10_000
      while ((await t.get('l/alive')) !== undefined && Date.now() < deadline) await sleep(50)
      assert.equal(await t.get('l/alive'), undefined, 'the key bound to the lease is gone')
      assert.equal((await t.get('l/kept'))?.value, 'yes', 'other keys stay')
    })

    if (options.interrupt) {
      it('resumes a watch across an interruption: writes made meanwhile are neither lost nor repeated', async function () {
        this.timeout(Math.max(options.timeoutMs ?? 60_000, 120_000))
        const seen: string[] = []
        let resumed = 0
        const watch = await t.watch('r/', {onEvents: (events) => void seen.push(...events.map(show)), onResumed: () => void resumed++})
        try {
          await t.commit([], [{op: 'put', key: 'r/1', value: 'before'}])
          await until('the first write was seen', () => seen.length === 1)
          await options.interrupt!()
          // The store answers again; writes may still need a retry while the client reconnects
          // (create-if-absent: a repeat of a write that was applied changes nothing).
          for (const key of ['r/2', 'r/3']) {
            const deadline = Date.now() + 30_000
            for (;;) {
              try {
                await t.commit([{key, modRevision: null}], [{op: 'put', key, value: 'after'}])
                break
              } catch (error) {
                if (Date.now() > deadline) throw error
                await sleep(200)
              }
            }
          }

          await until('all three writes were seen', () => seen.length >= 3, 60_000)
          await sleep(500)
          assert.deepEqual(seen, ['put r/1=before', 'put r/2=after', 'put r/3=after'])
        } finally {
          await watch.close()
        }
      })
    }
  })
}
