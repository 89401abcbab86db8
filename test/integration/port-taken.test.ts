// A forwarded host port taken between its allocation and the guest's start:
// another program binds the very port the agent's allocator handed out, while
// the build is held just before the start (EC_FAILPOINTS=boot=pause:FILE).
// qemu then cannot listen on it; a port ec picked is picked again and the
// guest boots on the new one, a port the user chose with --publish ends the
// build in ERROR saying which and what to do. Real etcd, Placement, agent and
// the test image under qemu (TCG) through the system libvirtd; 1-3 minutes.
import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import {chmodSync, mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {createConnection, createServer, type Server} from 'node:net'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {EtcdTransport} from '../../plugins/etcd/src/transport.js'
import type {InstanceRecord} from '../../src/instances/model.js'
import {InstanceStore} from '../../src/instances/store.js'
import {startAgent, type RunningAgent} from '../helpers/agent.js'
import {parseJson, runEc, type RunResult} from '../helpers/cli.js'
import {startControlPlane, type TestControlPlane} from '../helpers/control-plane.js'
import {guestConfigLines} from '../helpers/guest-config.js'
import {allocationsOf} from '../helpers/placement.js'
import {freePorts} from '../helpers/ports.js'
import {testImage} from '../helpers/test-image.js'

const URI = 'qemu:///system'

function domainXml(id: string): string | undefined {
  const result = spawnSync('virsh', ['-c', URI, 'dumpxml', `ec-${id}`], {encoding: 'utf8'})
  return result.status === 0 ? result.stdout : undefined
}

function portOf(host: string): number {
  return Number(host.slice(host.lastIndexOf(':') + 1))
}

/** Resolves once a TCP connection to 127.0.0.1:port is accepted. */
function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({host: '127.0.0.1', port}, () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

describe('a forwarded port taken before the guest starts', function () {
  this.timeout(600_000)
  let cp: TestControlPlane
  let store: InstanceStore
  let agent: RunningAgent | undefined
  let work: string
  let pauseFile: string
  const squatters: Server[] = []

  /** Another program listens on 127.0.0.1:port. */
  async function squat(port: number): Promise<void> {
    const server = createServer()
    squatters.push(server)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({host: '127.0.0.1', port, exclusive: true}, resolve)
    })
  }

  /** The record once its build is held before the start, with the ports it was given. */
  async function heldAtBoot(name: string, timeoutMs = 300_000): Promise<InstanceRecord> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const record = (await store.find(name))?.value
      if (record?.step === 'boot' && record.ports?.length) return record
      if (record?.state === 'ERROR') throw new Error(`${name} failed before its start: ${record.error?.reason}`)
      if (Date.now() > deadline) throw new Error(`${name} never reached its start (${record?.state} at ${record?.step}):\n${agent?.output()}`)
      await sleep(100)
    }
  }

  // The guest boots under TCG on a shared machine: --wait may take minutes.
  const create = (name: string, args: string[]): Promise<RunResult> =>
    runEc(['instance', 'create', name, '--vcpus', '1', '--memory', '256', '--disk', '1', '--image', 'test', ...args, '--wait', '--json'], {
      env: cp.env,
      cwd: cp.sandbox.dir,
      timeoutMs: 540_000,
    })

  before(async () => {
    const [metadataPort] = await freePorts(1)
    cp = await startControlPlane()
    work = join(cp.sandbox.dir, 'guests')
    mkdirSync(work)
    chmodSync(cp.sandbox.dir, 0o755) // qemu runs as libvirt-qemu
    pauseFile = join(cp.sandbox.dir, 'resume-boot')
    writeFileSync(
      cp.configFile,
      [
        ...(await guestConfigLines(cp, {work, metadataPort, libvirtUri: URI})),
        'compute:',
        '  guestReadyTimeoutSeconds: 300',
        '  inventory: {VCPU: 8, MEMORY_MB: 4096, DISK_GB: 100}',
        '  reserved: {MEMORY_MB: 0}',
        'scheduling: {waitTimeoutSeconds: 600}',
        'images:',
        `  test: {path: ${testImage()}}`,
      ].join('\n') + '\n',
    )
    store = new InstanceStore(new EtcdTransport({endpoints: [cp.etcdEndpoint], prefix: '/ec', timeoutMs: 5000, tls: cp.clientTls}))
    agent = await startAgent({...cp.env, EC_FAILPOINTS: `boot=pause:${pauseFile}`}, 'ports-host', join(cp.sandbox.dir, 'agent'), 240_000)
  })

  afterEach(async () => {
    writeFileSync(pauseFile, '') // a build still held goes on, so its delete finds it
    await Promise.all(squatters.splice(0).map((s) => new Promise((resolve) => s.close(resolve))))
    const {records} = await store.list()
    if (records.length > 0) await cp.ec(['instance', 'delete', ...records.map((r) => r.value.id)])
    rmSync(pauseFile, {force: true}) // the next build is held again
  })

  after(async () => {
    await agent?.stop('SIGTERM')
    await store?.transport.close()
    await cp?.stop()
  })

  it('picks another port for a forward ec chose, and the guest boots on it', async () => {
    const creating = create('moved', ['--publish', '0:8080'])
    const held = await heldAtBoot('moved')
    const ssh = held.ports!.find((p) => p.guest === 22)!
    await squat(portOf(ssh.host))
    writeFileSync(pauseFile, '')

    const result = await creating
    expect(result.code, `${result.stderr}\n${agent?.output()}`).to.equal(0)
    const active = parseJson<InstanceRecord>(result)
    expect(active.state).to.equal('ACTIVE')
    const newSsh = active.ports!.find((p) => p.guest === 22)!
    expect(portOf(newSsh.host), 'a new SSH port').to.not.equal(portOf(ssh.host))
    expect(active.ports!.map((p) => p.guest).sort()).to.deep.equal([22, 8080])
    // The definition the guest runs with and the record agree; qemu listens on the new ports.
    const xml = domainXml(active.id)!
    for (const forward of active.ports!) expect(xml).to.include(`hostfwd=${forward.proto}:${forward.host}-:${forward.guest}`)
    expect(xml).to.not.include(`hostfwd=tcp:${ssh.host}-`)
    expect(await connects(portOf(newSsh.host)), 'qemu listens on the new SSH port').to.equal(true)
    expect(agent!.output()).to.match(new RegExp(`moved \\(${active.id}\\): host port ${ssh.host.replaceAll('.', '\\.')}/tcp, forwarded to the guest, was taken by another program before the guest started \\(qemu could not listen on it\\); picking another`))

    expect((await cp.ec(['instance', 'delete', 'moved'])).code).to.equal(0)
    expect(domainXml(active.id), 'domain gone').to.equal(undefined)
  })

  it('fails a build whose --publish HOST_PORT was taken, saying which and what to do, holding nothing', async () => {
    const [chosen] = await freePorts(1)
    const creating = create('pinned', ['--publish', `${chosen}:8080`])
    const held = await heldAtBoot('pinned')
    expect(held.ports!.map((p) => p.host)).to.include(`127.0.0.1:${chosen}`)
    await squat(chosen)
    writeFileSync(pauseFile, '')

    const result = await creating
    expect(result.code, result.stdout).to.equal(11)
    expect(parseJson<{error: {message: string}}>(result).error.message).to.equal(
      `pinned failed at boot: host port 127.0.0.1:${chosen}/tcp (--publish ${chosen}:8080/tcp) was taken by another program before the guest started; publish on another HOST_PORT, or 0 for any free one`,
    )
    const failed = (await store.find('pinned'))!.value
    expect(failed.state).to.equal('ERROR')
    expect(await allocationsOf(cp.placementUrl, failed.id)).to.deep.equal({})
    expect(domainXml(failed.id), 'no domain left').to.equal(undefined)
    expect((await cp.ec(['instance', 'delete', 'pinned'])).code).to.equal(0)
  })
})
