// The parsed form of a YAML config kept between runs (src/config/yaml-cache.ts).
import {expect} from 'chai'
import {existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {parseYaml} from '../../src/config/yaml-cache.js'

describe('parsed YAML kept in the cache directory', () => {
  let cacheDir: string
  beforeEach(() => (cacheDir = mkdtempSync(join(tmpdir(), 'ec-yaml-'))))
  afterEach(() => rmSync(cacheDir, {recursive: true, force: true}))
  const kept = () => (existsSync(join(cacheDir, 'config-yaml')) ? readdirSync(join(cacheDir, 'config-yaml')) : [])

  it('keeps a parse under the hash of the text, and answers the next parse of that text from it', async () => {
    const text = 'stateDir: /srv/ec\ncontrolPlane:\n  etcd: {clientPort: 2379}\n'
    expect(await parseYaml(text, cacheDir)).to.deep.equal({stateDir: '/srv/ec', controlPlane: {etcd: {clientPort: 2379}}})
    expect(kept()).to.have.length(1)
    // It may hold credentials: its owner's alone.
    expect(statSync(join(cacheDir, 'config-yaml')).mode & 0o777).to.equal(0o700)
    expect(statSync(join(cacheDir, 'config-yaml', kept()[0])).mode & 0o777).to.equal(0o600)
    // Read back, not parsed again: what the kept file says is the answer.
    writeFileSync(join(cacheDir, 'config-yaml', kept()[0]), JSON.stringify({from: 'cache'}))
    expect(await parseYaml(text, cacheDir)).to.deep.equal({from: 'cache'})
    // Another text is another key.
    expect(await parseYaml(`${text}# changed\n`, cacheDir)).to.deep.equal({stateDir: '/srv/ec', controlPlane: {etcd: {clientPort: 2379}}})
    expect(kept()).to.have.length(2)
  })

  it('keeps nothing JSON would change: a timestamp stays a Date, .inf stays Infinity', async () => {
    for (const text of ['at: 2024-05-01\n', 'limit: .inf\n']) {
      const first = await parseYaml(text, cacheDir)
      expect(kept(), text).to.deep.equal([])
      expect(await parseYaml(text, cacheDir), text).to.deep.equal(first)
    }

    expect(((await parseYaml('at: 2024-05-01\n', cacheDir)) as {at: unknown}).at).to.be.instanceOf(Date)
  })

  it('parses without a cache directory, and reports a YAML error as js-yaml does, keeping nothing', async () => {
    expect(await parseYaml('a: [1, 2]\n')).to.deep.equal({a: [1, 2]})
    let error: Error | undefined
    try {
      await parseYaml('a: [1, 2\n', cacheDir)
    } catch (caught) {
      error = caught as Error
    }

    expect(error?.name).to.equal('YAMLException')
    expect(kept()).to.deep.equal([])
  })
})
