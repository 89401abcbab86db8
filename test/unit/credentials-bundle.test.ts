// Writing a credentials bundle: owner-only, and a replacement is never seen half-written.
import {expect} from 'chai'
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {type CredentialsBundle, writeBundle} from '../../src/credentials/bundle.js'

const bundle = (name: string): CredentialsBundle => ({
  name,
  etcd: {endpoints: ['https://127.0.0.1:2379']},
  placement: {urls: ['https://127.0.0.1:8778']},
  ca: 'CA'.repeat(20_000),
  cert: 'CERT',
  key: 'KEY',
})

describe('credentials bundle writing', () => {
  let dir: string
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'ec-bundle-'))))
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  it('replaces a bundle so that a reader at any moment parses the old one or the new one, mode 0600, no temp file left', async () => {
    const file = join(dir, 'credentials.json')
    writeFileSync(file, JSON.stringify(bundle('old')), {mode: 0o644})
    let reads = 0
    let writing = true
    const reader = (async () => {
      while (writing) {
        const name = (JSON.parse(readFileSync(file, 'utf8')) as CredentialsBundle).name
        expect(name).to.match(/^(old|new\d+)$/)
        reads++
        await new Promise((resolve) => setImmediate(resolve))
      }
    })()
    for (let i = 0; i < 50; i++) await writeBundle(file, bundle(`new${i}`), {replace: true})
    writing = false
    await reader
    expect(reads).to.be.greaterThan(0)
    expect(statSync(file).mode & 0o777).to.equal(0o600)
    expect(readdirSync(dir)).to.deep.equal(['credentials.json'])
  })

  it('refuses to replace a file unless asked (exit reason conflict)', async () => {
    const file = join(dir, 'x.credentials.json')
    await writeBundle(file, bundle('first'), {replace: false})
    const error = await writeBundle(file, bundle('second'), {replace: false}).catch((error_: Error & {reason?: string}) => error_)
    expect((error as {reason?: string}).reason).to.equal('conflict')
    expect((JSON.parse(readFileSync(file, 'utf8')) as CredentialsBundle).name).to.equal('first')
  })
})
