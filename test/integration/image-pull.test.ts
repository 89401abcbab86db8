// ec image pull: a URL lands in the host's cache once, with the download's
// progress (percent, bytes, rate) shown; --json prints one final line. On
// libvirt's test driver: no daemon or guest is needed. A few seconds.
import {expect} from 'chai'
import {readdirSync} from 'node:fs'
import {join} from 'node:path'

import {makeSandbox, runEc, type Sandbox} from '../helpers/cli.js'
import {type ImageServer, makeQcow2, startImageServer} from '../helpers/image-server.js'

describe('ec image pull', function () {
  this.timeout(120_000)
  let sandbox: Sandbox
  let images: ImageServer
  let env: NodeJS.ProcessEnv

  before(async () => {
    sandbox = makeSandbox('ec-pull-')
    const image = makeQcow2(sandbox.dir, 'base.qcow2', '64M')
    images = await startImageServer({'/base.qcow2': image, '/same.qcow2': image})
    env = {...sandbox.env, EC_LIBVIRT_URI: 'test:///default'}
  })

  after(async () => {
    await images?.close()
    sandbox?.cleanup()
  })

  const pull = (args: string[]) => runEc(['image', 'pull', ...args, '--state-dir', join(sandbox.dir, 'state')], {env, cwd: sandbox.dir})

  it('downloads into the cache with progress, once; --json prints one line', async () => {
    const shown = await pull([images.url('/base.qcow2')])
    expect(shown.code, shown.stderr).to.equal(0)
    expect(shown.stdout).to.match(/✔ Image \S+ \(100% downloading: [\d.]+ MB of [\d.]+ MB, [\d.]+ MB\/s\)/)
    const cache = join(sandbox.dir, 'state', 'compute', 'images')
    expect(readdirSync(cache).filter((f) => f.endsWith('.img'))).to.have.length(1)

    const json = await pull([images.url('/base.qcow2'), '--json'])
    expect(json.code, json.stderr).to.equal(0)
    expect(json.stdout.trim().split('\n')).to.have.length(1)
    const info = JSON.parse(json.stdout) as {path: string; format: string; virtualSizeBytes: number; sha256: string}
    expect(info).to.include({format: 'qcow2', virtualSizeBytes: 64 * 2 ** 20})
    expect(info.sha256).to.match(/^[0-9a-f]{64}$/)
    expect(images.requests('/base.qcow2'), 'the second pull used the cache').to.equal(1)
  })

  it('refuses a wrong checksum and an unknown reference in one line, leaving nothing', async () => {
    const wrong = await pull([images.url('/base.qcow2').replace('base', 'other'), '--json'])
    expect(wrong.code).to.equal(6)
    const unknown = await pull(['no-such-image'])
    expect(unknown.code).to.equal(6)
    expect(unknown.stderr).to.match(/^Error: unknown image "no-such-image"/m)
    const bad = await pull([images.url('/same.qcow2'), '--sha256', '0'.repeat(64)])
    expect(bad.code).to.not.equal(0)
    expect(bad.stderr).to.match(/not the expected 0{64}/)
    expect(readdirSync(join(sandbox.dir, 'state', 'compute', 'images')).filter((f) => f.includes('.part-'))).to.deep.equal([])
  })
})
