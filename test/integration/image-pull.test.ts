// ec image pull: a URL lands in the host's cache once, with the download's
// progress (percent, bytes, rate) shown; --json prints one final line. On
// libvirt's test driver: no daemon or guest is needed. A few seconds (the
// --name part starts a control plane and an agent: under a minute).
import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {copyFileSync, mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {InstanceRecord} from '../../src/instances/model.js'
import {startAgent, type RunningAgent} from '../helpers/agent.js'
import {makeSandbox, parseJson, runEc, type Sandbox} from '../helpers/cli.js'
import {startControlPlane, type TestControlPlane} from '../helpers/control-plane.js'
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

// --name: the pulled image is `--image NAME` for creates on this host. A real
// control plane and one agent on test:///default sharing the host's state
// directory (as `ec up` and `ec compute start` do by default). Under a minute.
describe('ec image pull --name', function () {
  this.timeout(180_000)
  let cp: TestControlPlane
  let images: ImageServer
  let agent: RunningAgent | undefined
  let work: string
  let file: string

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'ec-pull-name-'))
    images = await startImageServer({'/named.qcow2': makeQcow2(work, 'named.qcow2', '64M')})
    file = makeQcow2(work, 'local.qcow2', '64M')
    cp = await startControlPlane(
      [
        'backends: {metadata: none}',
        'libvirt: {uri: "test:///default"}',
        'compute: {inventory: {VCPU: 8, MEMORY_MB: 8192, DISK_GB: 100}, reserved: {MEMORY_MB: 0}}',
        'scheduling: {waitTimeoutSeconds: 90}',
        'images:',
        `  configured: {path: ${file}}`,
      ].join('\n'),
    )
    agent = await startAgent(cp.env, 'pull-host', cp.stateDir, 240_000)
  })

  afterEach(async () => {
    const listed = await cp.ec(['instance', 'list', '--quiet'])
    const ids = listed.stdout.split('\n').filter(Boolean)
    if (ids.length > 0) await cp.ec(['instance', 'delete', ...ids])
  })

  after(async () => {
    await agent?.stop('SIGKILL')
    await images?.close()
    await cp?.stop()
    rmSync(work, {recursive: true, force: true})
  })

  const create = (name: string, image: string) => cp.ec(['instance', 'create', name, '--vcpus', '1', '--memory', '64', '--disk', '1', '--image', image, '--wait', '--json'])

  it('names a URL: a create on this host takes it from the cache, checked against the pulled sha256', async () => {
    const url = images.url('/named.qcow2')
    const pulled = await cp.ec(['image', 'pull', url, '--name', 'bookworm', '--user', 'admin', '--json'])
    expect(pulled.code, pulled.stderr).to.equal(0)
    expect(pulled.stdout.trim().split('\n'), 'one line').to.have.length(1)
    const info = parseJson<{name: string; sha256: string; format: string}>(pulled)
    expect(info).to.include({name: 'bookworm', format: 'qcow2'})
    expect(info.sha256).to.match(/^[0-9a-f]{64}$/)

    const listed = parseJson<Array<{url: string; names: string[]}>>(await cp.ec(['image', 'list', '--json']))
    expect(listed.map((i) => [i.url, i.names])).to.deep.equal([[url, ['bookworm']]])

    const created = await create('from-name', 'bookworm')
    expect(created.code, `${created.stderr}\n${agent?.output()}`).to.equal(0)
    const record = parseJson<InstanceRecord>(created)
    expect(record.state).to.equal('ACTIVE')
    expect(record.spec.image).to.deep.equal({ref: 'bookworm', url, sha256: info.sha256})
    expect(record.spec.user, "the name's --user").to.equal('admin')
    expect(images.requests('/named.qcow2'), 'the create used the pulled copy').to.equal(1)
  })

  it('names a file by its bytes: changed after the pull, a create from it ends in ERROR saying so', async () => {
    const copy = join(work, 'mine.qcow2')
    copyFileSync(file, copy)
    const pulled = await cp.ec(['image', 'pull', copy, '--name', 'mine'])
    expect(pulled.code, pulled.stderr).to.equal(0)
    expect(pulled.stdout).to.include(`--image mine now means ${copy}`)

    const created = await create('from-file', 'mine')
    expect(created.code, `${created.stderr}\n${agent?.output()}`).to.equal(0)
    expect(parseJson<InstanceRecord>(created).spec.image).to.include({ref: 'mine', path: copy})

    execFileSync('qemu-img', ['resize', '-q', copy, '128M'])
    const changed = await create('changed', 'mine')
    expect(changed.code, changed.stdout).to.equal(11)
    const {error} = parseJson<{error: {message: string}}>(changed)
    expect(error.message).to.match(/^changed failed at image: image file \S+mine\.qcow2 has sha256 [0-9a-f]{64}, not the expected [0-9a-f]{64}/)
  })

  it('refuses a bad name or a configured one before fetching anything', async () => {
    const bad = await cp.ec(['image', 'pull', images.url('/named.qcow2'), '--name', 'Not/A name'])
    expect(bad.code).to.equal(2)
    expect(bad.stderr).to.match(/^Error: image name "Not\/A name" is not valid; use 1-63 lower-case letters/m)
    const configured = await cp.ec(['image', 'pull', file, '--name', 'configured'])
    expect(configured.code).to.equal(5)
    expect(configured.stderr).to.match(/^Error: image name "configured" is configured \(images\.configured\); give the pulled image another --name$/m)
    const unknown = await create('nothing', 'no-such-name')
    expect(unknown.code).to.equal(6)
    expect(images.requests('/named.qcow2')).to.equal(1)
  })
})
