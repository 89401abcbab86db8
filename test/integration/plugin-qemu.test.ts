// A third-party hypervisor installed the way a user would: examples/ec-plugin-qemu
// is packed, published to a real npm registry (verdaccio) on loopback and
// installed with `ec plugins install ec-plugin-qemu`. Chosen by config
// (backends.hypervisor: qemu), it boots the test image as a plain qemu process
// supervised over QMP — no libvirt domain — through the whole ec path: the
// guest reads its metadata, runs its user-data and phones home. A restarted
// agent finds the guest again; delete leaves no process and no file;
// uninstalling the plugin takes the backend away.
import {expect} from 'chai'
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import type {InstanceRecord} from '../../src/instances/model.js'
import {startAgent, type RunningAgent} from '../helpers/agent.js'
import {parseJson, REPO_ROOT, runEc, type RunResult} from '../helpers/cli.js'
import {startControlPlane, type TestControlPlane} from '../helpers/control-plane.js'
import {etcdKeys} from '../helpers/etcd.js'
import {allocationsOf} from '../helpers/placement.js'
import {freePorts} from '../helpers/ports.js'
import {processesMentioning} from '../helpers/processes.js'
import {type LocalRegistry, startRegistry} from '../helpers/registry.js'
import {testImage} from '../helpers/test-image.js'

const PLUGIN_DIR = join(REPO_ROOT, 'examples', 'ec-plugin-qemu')
const PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEcTestKeyForEcOnly ec-test@example'

interface Listing {
  kind: string
  name: string
  plugin: string
  selected: boolean
}

/** `npm pack` a package directory into `into`; the tarball's path. */
function pack(dir: string, into: string): string {
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', into], {cwd: dir, encoding: 'utf8', env: {...process.env, npm_config_update_notifier: 'false'}})
  return join(into, (JSON.parse(out) as Array<{filename: string}>)[0].filename)
}

describe('ec-plugin-qemu installed from a registry', function () {
  this.timeout(300_000)
  let cp: TestControlPlane
  let registry: LocalRegistry
  let agent: RunningAgent | undefined
  let env: NodeJS.ProcessEnv
  let work: string
  let guestsDir: string
  let agentDir: string
  let image: string
  let metadataPort: number
  let peerPort: number

  const ec = (args: string[], timeoutMs?: number): Promise<RunResult> => runEc(args, {env, cwd: cp.sandbox.dir, timeoutMs})
  const qemuProcesses = () => processesMentioning(guestsDir).filter((p) => p.cmdline.includes('qemu-system'))

  /** ec's config: the control plane's, and the qemu backend with its section (or, once the plugin is gone, only naming it). */
  function writeConfig(qemuSection: boolean, backends = 'backends: {hypervisor: qemu, metadata: mdserver}'): void {
    writeFileSync(
      cp.configFile,
      [
        `stateDir: ${cp.stateDir}`,
        'controlPlane:',
        `  etcd: {clientPort: ${new URL(cp.etcdEndpoint).port}, peerPort: ${peerPort}}`,
        `  placement: {port: ${new URL(cp.placementUrl).port}}`,
        backends,
        // The test image ignores ACPI powerdown: a short grace before QMP quit.
        qemuSection ? `qemu: {guestsDir: ${guestsDir}, imageCacheDir: ${join(work, 'images')}, shutdownTimeoutSeconds: 1}` : '',
        `metadata: {port: ${metadataPort}, dataDir: ${join(work, 'metadata')}}`,
        'compute:',
        '  guestReadyTimeoutSeconds: 180',
        '  resyncSeconds: 2',
        '  inventory: {VCPU: 8, MEMORY_MB: 4096, DISK_GB: 100}',
        '  reserved: {MEMORY_MB: 0}',
        'images:',
        `  test: {path: ${image}}`,
      ].join('\n') + '\n',
    )
  }

  before(async function () {
    // Packing two packages, publishing and installing them with npm: minutes on a loaded machine.
    this.timeout(600_000)
    cp = await startControlPlane()
    registry = await startRegistry()
    env = {...cp.env, ...registry.env}
    work = join(cp.sandbox.dir, 'w')
    mkdirSync(work)
    guestsDir = join(work, 'guests')
    agentDir = join(cp.sandbox.dir, 'agent')
    // The plugin and what it depends on, as their authors would publish them.
    await registry.publish(pack(join(REPO_ROOT, 'packages', 'plugin-api'), work))
    await registry.publish(pack(PLUGIN_DIR, work))

    const installed = await ec(['plugins', 'install', 'ec-plugin-qemu'], 180_000)
    expect(installed.code, `${installed.stdout}\n${installed.stderr}\n${registry.output()}`).to.equal(0)

    image = testImage()
    ;[metadataPort, peerPort] = await freePorts(2)
    writeConfig(true)
  })

  after(async () => {
    if (cp) {
      const listed = await ec(['instance', 'list', '--json']).catch(() => undefined)
      const ids = listed?.code === 0 ? parseJson<Array<{id: string}>>(listed).map((r) => r.id) : []
      if (ids.length > 0 && agent) await ec(['instance', 'delete', ...ids])
    }

    await agent?.stop('SIGTERM')
    // Whatever qemu this test started and did not get rid of: its own processes only (their command lines name its directory).
    if (guestsDir) for (const {pid} of qemuProcesses()) process.kill(pid, 'SIGKILL')
    await registry?.close()
    // ec down must load the config whatever state the plugin is in.
    if (cp && peerPort) writeConfig(false, '')
    await cp?.stop()
  })

  it('is listed with the plugin it came from and selected by config', async () => {
    const result = await ec(['backends', 'list', '--kind', 'hypervisor', '--json'])
    expect(result.code, result.stderr).to.equal(0)
    const listing = parseJson<Listing[]>(result)
    expect(listing.map((b) => [b.name, b.plugin, b.selected])).to.deep.equal([
      ['libvirt', '@ec/plugin-libvirt', false],
      ['qemu', 'ec-plugin-qemu', true],
    ])
  })

  it('boots the test image as a qemu process: metadata, keys, user-data, phone-home; a restarted agent keeps it; delete leaves nothing', async () => {
    agent = await startAgent(env, 'qemu-host', agentDir)
    writeFileSync(join(work, 'id.pub'), PUBLIC_KEY + '\n')
    writeFileSync(join(work, 'user-data.sh'), '#!/bin/sh\necho hello-from-user-data\n')
    const created = await ec(
      ['instance', 'create', 'q1', '--vcpus', '1', '--memory', '256', '--disk', '1', '--image', 'test',
        '--key-file', join(work, 'id.pub'), '--user-data', join(work, 'user-data.sh'), '--meta', 'role=web', '--wait', '--json'],
      240_000,
    )
    expect(created.code, `${created.stdout}\n${created.stderr}\n${agent.output()}`).to.equal(0)
    const vm = parseJson<InstanceRecord>(created)
    expect(vm.state).to.equal('ACTIVE')
    expect(vm.address, 'address from the phone-home').to.equal('10.0.2.15')

    // A qemu process, not a libvirt domain.
    const running = qemuProcesses()
    expect(running, 'one qemu process').to.have.length(1)
    expect(running[0].cmdline).to.include('-accel tcg')
    expect(running[0].cmdline).to.include(`-uuid ${vm.id}`)
    expect(spawnSync('virsh', ['-c', 'qemu:///system', 'domstate', `ec-${vm.id}`], {stdio: 'ignore'}).status, 'no libvirt domain').to.not.equal(0)
    for (const file of ['guest.json', 'disk.qcow2', 'console.log', 'qemu.pid', 'qmp.sock']) expect(existsSync(join(guestsDir, vm.id, file)), file).to.equal(true)

    const text = (await ec(['instance', 'console', 'q1', '--state-dir', agentDir])).stdout
    expect(text).to.include('ec-test: boot')
    expect(text).to.include(`ec-test: meta-data: instance-id: ${vm.id}`)
    expect(text).to.include('ec-test: meta-data: local-hostname: q1')
    expect(text).to.include(PUBLIC_KEY)
    expect(text).to.include('hello-from-user-data')
    expect(text).to.include('ec-test: user-data-exit 0')
    expect(text).to.include(`ec-test: root-disk-bytes ${1024 ** 3}`)
    expect(text).to.include('ec-test: phone-home ok')
    const ssh = vm.ports?.find((p) => p.guest === 22)
    expect(ssh?.host, 'SSH forwarded on loopback').to.match(/^127\.0\.0\.1:\d+$/)
    expect(running[0].cmdline).to.include(`hostfwd=tcp:${ssh!.host}-:22`)

    // The agent goes and comes back: it finds the guest from its files and leaves it running.
    expect(await agent.stop('SIGTERM')).to.equal(0)
    agent = await startAgent(env, 'qemu-host', agentDir)
    // Its first resync lists the guests and publishes them: the qemu guest is found, running, from its files.
    const published = `hosts/${agent.hostId()}/guests`
    for (const deadline = Date.now() + 60_000; ; await sleep(250)) {
      const value = (await etcdKeys(cp.etcdEndpoint))[published] ?? ''
      if (value.includes(vm.id) && value.includes('running')) break
      if (Date.now() > deadline) throw new Error(`the restarted agent did not publish ${vm.id} as running: ${value}\n${agent.output()}`)
    }

    expect(qemuProcesses().map((p) => p.pid), 'the same qemu still runs').to.deep.equal([running[0].pid])
    const shown = parseJson<InstanceRecord>(await ec(['instance', 'show', 'q1', '--json']))
    expect(shown.state).to.equal('ACTIVE')

    const deleted = await ec(['instance', 'delete', 'q1'])
    expect(deleted.code, deleted.stderr).to.equal(0)
    expect(qemuProcesses(), 'no qemu process left').to.deep.equal([])
    expect(existsSync(join(guestsDir, vm.id)), 'guest directory').to.equal(false)
    expect(Object.keys(await etcdKeys(cp.etcdEndpoint)).filter((k) => k.includes(vm.id))).to.deep.equal([])
    expect(await allocationsOf(cp.placementUrl, vm.id)).to.deep.equal({})
    expect(readdirSync(join(work, 'metadata')).filter((f) => f.includes(vm.id)), 'published metadata').to.deep.equal([])
  })

  it('ec plugins uninstall removes it: config still naming it fails with the available backends', async () => {
    await agent?.stop('SIGTERM')
    agent = undefined
    const removed = await ec(['plugins', 'uninstall', 'ec-plugin-qemu'])
    expect(removed.code, removed.stderr).to.equal(0)
    // Its config section went with it (an unknown key is refused on its own); backends.hypervisor still names it.
    writeConfig(false)
    const listing = parseJson<Listing[]>(await ec(['backends', 'list', '--kind', 'hypervisor', '--json']))
    expect(listing.map((b) => b.name)).to.deep.equal(['libvirt'])
    const start = await ec(['compute', 'start', '--name', 'qemu-host', '--state-dir', agentDir])
    expect(start.code).to.equal(3)
    expect(start.stderr).to.include('unknown hypervisor backend "qemu" in backends.hypervisor; available: libvirt (from @ec/plugin-libvirt)')
    expect(readFileSync(cp.configFile, 'utf8')).to.include('hypervisor: qemu')
  })
})
