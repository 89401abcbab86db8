import {expect} from 'chai'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {cachedNames, cacheFile} from '../../src/completion/name-cache.js'

describe('completion name cache', () => {
  let dir: string
  let file: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ec-names-'))
    file = cacheFile(dir, 'instance', 'scope')
  })
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  const answering = (names: string[], calls: {count: number}) => async () => async () => {
    calls.count++
    return names
  }

  it('looks up once, then answers from the cache while it is fresh', async () => {
    const calls = {count: 0}
    expect(await cachedNames(file, answering(['b', 'a', 'a'], calls), {now: 1000})).to.deep.equal(['a', 'b'])
    expect(await cachedNames(file, answering(['c'], calls), {now: 5000, ttlMs: 10_000})).to.deep.equal(['a', 'b'])
    expect(calls.count).to.equal(1)
    expect(await cachedNames(file, answering(['c'], calls), {now: 12_000, ttlMs: 10_000})).to.deep.equal(['c'])
    expect(calls.count).to.equal(2)
  })

  it('answers with the last names at the deadline when a lookup hangs, and does not wait again soon', async () => {
    await cachedNames(file, answering(['old'], {count: 0}), {now: 0})
    const hanging = async () => () => new Promise<string[]>(() => {})
    const started = Date.now()
    expect(await cachedNames(file, hanging, {now: 20_000, ttlMs: 10_000, deadlineMs: 200})).to.deep.equal(['old'])
    expect(Date.now() - started).to.be.below(2000)
    const calls = {count: 0}
    expect(await cachedNames(file, answering(['new'], calls), {now: 25_000, ttlMs: 10_000})).to.deep.equal(['old'])
    expect(calls.count).to.equal(0) // the failure is remembered for the cache's lifetime
    expect(await cachedNames(file, answering(['new'], calls), {now: 31_000, ttlMs: 10_000})).to.deep.equal(['new'])
  })

  it('answers with nothing when the first lookup fails', async () => {
    const failing = async () => async (): Promise<string[]> => {
      throw new Error('connection refused')
    }
    expect(await cachedNames(file, failing, {now: 0})).to.deep.equal([])
  })
})
