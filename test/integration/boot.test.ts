// Real guests: ec's whole path boots the test image (scripts/build-test-image.sh)
// under qemu (TCG) through the system libvirtd, with user networking, and the
// guest reads its metadata, runs its user-data and phones home. What the
// guest printed on its serial console is the evidence.
import {expect} from 'chai'
import {execFileSync, spawnSync} from 'node:child_process'
import {chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {EtcdTransport} from '../../plugins/etcd/src/transport.js'
import type {InstanceRecord} from '../../src/instances/model.js'
import {InstanceStore} from '../../src/instances/store.js'
import {startAgent, type RunningAgent} from '../helpers/agent.js'
import {parseJson, type RunResult} from '../helpers/cli.js'
import {startControlPlane, type TestControlPlane} from '../helpers/control-plane.js'
import {guestConfigLines} from '../helpers/guest-config.js'
import {etcdKeys} from '../helpers/etcd.js'
import {startImageServer, type ImageServer} from '../helpers/image-server.js'
import {freePorts} from '../helpers/ports.js'
import {allocationsOf} from '../helpers/placement.js'
import {testImage} from '../helpers/test-image.js'

const GIB = 1024 ** 3
const PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEcTestKeyForEcOnly ec-test@example'

function domainExists(id: string): boolean {
  return spawnSync('virsh', ['-c', 'qemu:///system', 'domstate', `ec-${id}`], {stdio: 'ignore'}).status === 0
}

describe('real guests under qemu (TCG) through ec', function () {
  this.timeout(600_000)
  let cp: TestControlPlane
  let images: ImageServer
  let store: InstanceStore
  let agent: RunningAgent
  let work: string
  let agentDir: string

  const ec = (args: string[]): Promise<RunResult> => cp.ec(args)
  const consoleOf = async (ref: string) => (await ec(['instance', 'console', ref, '--state-dir', agentDir])).stdout

  /** The console once `line` shows up in it (the guest prints as it boots). */
  async function consoleLine(ref: string, line: RegExp, timeoutMs = 120_000): Promise<string> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const text = await consoleOf(ref)
      if (line.test(text)) return text
      if (Date.now() > deadline) throw new Error(`no ${line} on the console of ${ref} within ${timeoutMs} ms:\n${text}`)
      await sleep(250)
    }
  }

  async function create(name: string, args: string[]): Promise<InstanceRecord> {
    const result = await ec(['instance', 'create', name, '--vcpus', '1', '--memory', '256', ...args, '--wait', '--json'])
    expect(result.code, `${result.stdout}\n${result.stderr}\n${agent?.output()}`).to.equal(0)
    return parseJson<InstanceRecord>(result)
  }

  /** Gone everywhere: record, keys, allocations, domain, instance directory, published metadata. */
  async function expectGone(record: InstanceRecord): Promise<void> {
    expect(Object.keys(await etcdKeys(cp.etcdEndpoint)).filter((k) => k.includes(record.id))).to.deep.equal([])
    expect(await allocationsOf(cp.placementUrl, record.id)).to.deep.equal({})
    expect(domainExists(record.id), 'domain').to.equal(false)
    expect(existsSync(join(work, 'instances', record.id)), 'instance directory').to.equal(false)
    expect(readdirSync(join(work, 'metadata')).filter((f) => f.includes(record.id)), 'published metadata').to.deep.equal([])
  }

  before(async () => {
    const image = testImage()
    const [metadataPort] = await freePorts(1)
    cp = await startControlPlane()
    // qemu runs as libvirt-qemu: everything it opens must be reachable by others.
    work = join(cp.sandbox.dir, 'guests')
    mkdirSync(work)
    chmodSync(cp.sandbox.dir, 0o755)
    const local = join(work, 'local.qcow2')
    copyFileSync(image, local)
    writeFileSync(join(work, 'not-a-disk.img'), 'this is text, not a disk image\n')
    images = await startImageServer({'/ec-test.qcow2': image, '/fresh.qcow2': image, '/badsum.qcow2': image})
    writeFileSync(
      cp.configFile,
      [
        ...(await guestConfigLines(cp, {work, metadataPort})),
        'compute:',
        '  guestReadyTimeoutSeconds: 180',
        '  inventory: {VCPU: 8, MEMORY_MB: 4096, DISK_GB: 100}',
        '  reserved: {MEMORY_MB: 0}',
        'images:',
        `  test: {url: "${images.url('/ec-test.qcow2')}"}`,
        `  local: {path: ${local}}`,
        `  fresh: {url: "${images.url('/fresh.qcow2')}"}`,
        `  notdisk: {path: ${join(work, 'not-a-disk.img')}}`,
        `  missing: {url: "${images.url('/missing.qcow2')}"}`,
        `  badsum: {url: "${images.url('/badsum.qcow2')}", sha256: "${'0'.repeat(64)}"}`,
      ].join('\n') + '\n',
    )
    store = new InstanceStore(new EtcdTransport({endpoints: [cp.etcdEndpoint], prefix: '/ec', timeoutMs: 5000, tls: cp.clientTls}))
    agentDir = join(cp.sandbox.dir, 'agent')
    agent = await startAgent(cp.env, 'boot-host', agentDir)
  })

  after(async () => {
    const {records} = (await store?.list()) ?? {records: []}
    if (records.length > 0) await ec(['instance', 'delete', ...records.map((r) => r.value.id)])
    await agent?.stop('SIGTERM')
    await store?.transport.close()
    await images?.close()
    await cp?.stop()
  })

  it('boots the test image: metadata, keys, user-data and phone-home as published; delete leaves nothing', async () => {
    writeFileSync(join(work, 'id.pub'), PUBLIC_KEY + '\n')
    writeFileSync(join(work, 'user-data.sh'), '#!/bin/sh\necho hello-from-user-data\n')
    const vm = await create('vm1', ['--disk', '1', '--image', 'test', '--key-file', join(work, 'id.pub'), '--user-data', join(work, 'user-data.sh'), '--meta', 'role=web'])
    expect(vm.state).to.equal('ACTIVE')
    expect(vm.address, 'address from the phone-home').to.equal('10.0.2.15')
    expect(domainExists(vm.id)).to.equal(true)
    const text = await consoleOf('vm1')
    expect(text).to.include('ec-test: boot')
    expect(text).to.include(`ec-test: meta-data: instance-id: ${vm.id}`)
    expect(text).to.include('ec-test: meta-data: local-hostname: vm1')
    expect(text).to.include(PUBLIC_KEY)
    expect(text).to.include('hello-from-user-data')
    expect(text).to.include('ec-test: user-data-exit 0')
    expect(text).to.include(`ec-test: root-disk-bytes ${GIB}`)
    expect(text).to.include('ec-test: phone-home ok')

    expect((await ec(['instance', 'delete', 'vm1'])).code).to.equal(0)
    await expectGone(vm)
  })

  for (const strategy of ['copy', 'resize'] as const) {
    it(`prepares the disk with ${strategy}: the guest sees a root disk of the requested size`, async () => {
      const vm = await create(`disk-${strategy}`, ['--disk', '2', '--image', 'local', '--disk-strategy', strategy])
      const text = await consoleLine(vm.name, /ec-test: root-disk-bytes \d+/)
      expect(text).to.include(`ec-test: root-disk-bytes ${2 * GIB}`)
      expect((await ec(['instance', 'delete', vm.name])).code).to.equal(0)
      await expectGone(vm)
    })
  }

  it('downloads a new image once for two simultaneous creates', async () => {
    const both = await Promise.all(['twin1', 'twin2'].map((name) => create(name, ['--disk', '1', '--image', 'fresh'])))
    expect(both.map((r) => r.state)).to.deep.equal(['ACTIVE', 'ACTIVE'])
    expect(images.requests('/fresh.qcow2')).to.equal(1)
    expect((await ec(['instance', 'delete', 'twin1', 'twin2'])).code).to.equal(0)
    for (const r of both) await expectGone(r)
    expect(readdirSync(join(work, 'cache')).filter((f) => !/\.(img|json)$/.test(f)), 'no partial downloads or locks').to.deep.equal([])
  })

  it('carries on through a libvirtd restart: running guests stay, new ones build', async () => {
    const before = await create('survivor', ['--disk', '1', '--image', 'local'])
    execFileSync('pkill', ['-x', 'libvirtd'])
    for (let i = 0; i < 50 && spawnSync('pgrep', ['-x', 'libvirtd']).status === 0; i++) await sleep(100)
    execFileSync('libvirtd', ['-d'])
    const after = await create('newcomer', ['--disk', '1', '--image', 'local'])
    expect(after.state).to.equal('ACTIVE')
    expect(domainExists(before.id)).to.equal(true)
    expect((await store.get(before.id))!.value.state).to.equal('ACTIVE')
    expect((await ec(['instance', 'delete', 'survivor', 'newcomer'])).code).to.equal(0)
  })

  const badImages: Array<[string, RegExp]> = [
    ['notdisk', /not a disk image/],
    ['missing', /404/],
    ['badsum', /sha256/],
  ]
  for (const [image, reason] of badImages) {
    it(`a bad image (${image}) ends in ERROR with the reason and leaves nothing behind`, async () => {
      const result = await ec(['instance', 'create', `bad-${image}`, '--vcpus', '1', '--memory', '256', '--disk', '1', '--image', image, '--wait'])
      expect(result.code).to.equal(11)
      expect(result.stderr).to.match(new RegExp(`Error: bad-${image} failed at image: .*${reason.source}`))
      const failed = (await store.find(`bad-${image}`))!.value
      expect(failed.state).to.equal('ERROR')
      expect(await allocationsOf(cp.placementUrl, failed.id)).to.deep.equal({})
      expect(domainExists(failed.id)).to.equal(false)
      expect(existsSync(join(work, 'instances', failed.id))).to.equal(false)
      expect(readdirSync(join(work, 'cache')).filter((f) => !/\.(img|json)$/.test(f)), 'no partial downloads').to.deep.equal([])
      expect((await ec(['instance', 'delete', `bad-${image}`])).code).to.equal(0)
    })
  }

  describe('with the config-drive metadata backend', () => {
    it('boots the same image, which reads its data from the cidata drive', async () => {
      await agent.stop('SIGTERM')
      writeFileSync(cp.configFile, (await import('node:fs')).readFileSync(cp.configFile, 'utf8').replace('backends: {metadata: mdserver}', 'backends: {metadata: configdrive}'))
      agent = await startAgent(cp.env, 'boot-host', agentDir)
      const vm = await create('cd1', ['--disk', '1', '--image', 'local', '--meta', 'role=db'])
      const text = await consoleLine('cd1', /ec-test: ready/)
      expect(text).to.include('ec-test: config-drive')
      expect(text).to.include(`ec-test: meta-data: instance-id: ${vm.id}`)
      expect(text).to.include('ec-test: meta-data: local-hostname: cd1')
      expect((await ec(['instance', 'delete', 'cd1'])).code).to.equal(0)
      await expectGone(vm)
    })
  })
})
