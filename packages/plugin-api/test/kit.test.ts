// The conformance kit can fail: run against backends that break the contract
// (fixtures/broken-backends.ts, in a child mocha), exactly the broken
// promises fail and the rest pass.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = resolve(fileURLToPath(import.meta.url), '../../../..')

interface MochaJson {
  failures: Array<{fullTitle: string}>
  passes: Array<{fullTitle: string}>
}

describe('conformance kit', function () {
  this.timeout(120_000)
  let dir: string | undefined
  after(async () => dir && rm(dir, {recursive: true, force: true}))

  it('fails backends that break the contract, naming the broken promise', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ec-kit-'))
    const image = join(dir, 'image.raw')
    await writeFile(image, randomBytes(4096))
    const fixture = join(root, 'packages/plugin-api/test/fixtures/broken-backends.ts')
    const {code, stdout} = await new Promise<{code: number; stdout: string}>((done) => {
      execFile(
        process.execPath,
        [join(root, 'node_modules/mocha/bin/mocha.js'), '--reporter', 'json', fixture],
        {cwd: root, env: {...process.env, EC_KIT_IMAGE: image}, maxBuffer: 16 * 2 ** 20},
        (error, out) => done({code: error ? ((error as {code?: number}).code ?? 1) : 0, stdout: out}),
      )
    })
    const report = JSON.parse(stdout.slice(stdout.indexOf('{'))) as MochaJson
    const failed = report.failures.map((f) => f.fullTitle.replace(/^.*\(@ec\/plugin-api\/testing\) /, '')).sort()
    assert.deepEqual(failed, [
      'creates a key only when absent: of 10 racing creators exactly one wins',
      'destroys a guest that never existed, and one only half made (a disk, no definition)',
      'refuses an image whose checksum does not match, with a reason',
      'runs a guest: prepare, define, start (twice: starting a running guest is no error), destroy (twice)',
      'shares one download between concurrent ensureImage calls, and then serves it from the cache',
      'swaps only at the expected mod revision, and a failed guard applies nothing',
    ])
    assert.equal(code, failed.length, 'mocha exits with the number of failures')
    assert.ok(report.passes.some((p) => /replays history after a revision/.test(p.fullTitle)), 'the rest still pass')
  })
})
