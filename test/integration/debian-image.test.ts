// A real Debian 12 cloud image (systemd, cloud-init, openssh-server; built by
// scripts/build-debian-image.sh) booted through ec under TCG, checked from
// outside the way a user would: `ec instance ssh` over the forwarded port
// with strict host key checking, the user-data's runcmd, --meta in
// cloud-init's instance data, and a --publish'ed port. Slow: the boot takes
// 2-5 minutes under TCG (the image build, once, much longer).
import {expect} from 'chai'
import {execFileSync, spawnSync} from 'node:child_process'
import {chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {connect} from 'node:net'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {EtcdTransport} from '../../plugins/etcd/src/transport.js'
import type {InstanceRecord} from '../../src/instances/model.js'
import {InstanceStore} from '../../src/instances/store.js'
import {startAgent, type RunningAgent} from '../helpers/agent.js'
import {parseJson, runEc, type RunResult} from '../helpers/cli.js'
import {startControlPlane, type TestControlPlane} from '../helpers/control-plane.js'
import {guestConfigLines} from '../helpers/guest-config.js'
import {debianImage} from '../helpers/debian-image.js'
import {etcdKeys} from '../helpers/etcd.js'
import {allocationsOf} from '../helpers/placement.js'
import {freePorts} from '../helpers/ports.js'

const USER_DATA = `#cloud-config
runcmd:
  - [sh, -c, 'echo runcmd-ran > /var/tmp/ec-runcmd']
  - [sh, -c, 'mkdir -p /srv/www && echo published-by-ec > /srv/www/index.html']
  - [sh, -c, 'cd /srv/www && nohup python3 -m http.server 8000 >/dev/null 2>&1 &']
`

function domainExists(id: string): boolean {
  return spawnSync('virsh', ['-c', 'qemu:///system', 'domstate', `ec-${id}`], {stdio: 'ignore'}).status === 0
}

function portAnswers(hostPort: string): Promise<boolean> {
  const [host, port] = [hostPort.slice(0, hostPort.lastIndexOf(':')), Number(hostPort.slice(hostPort.lastIndexOf(':') + 1))]
  return new Promise((resolve) => {
    const socket = connect({host, port})
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

describe('a Debian 12 cloud image through ec (TCG)', function () {
  this.timeout(2_700_000)
  let cp: TestControlPlane
  let store: InstanceStore
  let agent: RunningAgent
  let work: string

  const ec = (args: string[], timeoutMs = 120_000): Promise<RunResult> => runEc(args, {env: cp.env, cwd: cp.sandbox.dir, timeoutMs})

  /** ssh succeeds once sshd answers; until then ssh exits 255. */
  async function sshUntil(args: string[], timeoutMs = 180_000): Promise<RunResult> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const result = await ec(['instance', 'ssh', 'web', '--', ...args])
      if (result.code !== 255 || Date.now() > deadline) return result
      await sleep(2000)
    }
  }

  before(async () => {
    const image = debianImage()
    const [metadataPort] = await freePorts(1)
    cp = await startControlPlane()
    work = join(cp.sandbox.dir, 'guests')
    mkdirSync(work)
    chmodSync(cp.sandbox.dir, 0o755) // qemu runs as libvirt-qemu
    copyFileSync(image, join(work, 'debian-12.qcow2'))
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ec-test', '-f', join(work, 'id_ed25519')])
    writeFileSync(join(work, 'user-data'), USER_DATA)
    writeFileSync(
      cp.configFile,
      [
        ...(await guestConfigLines(cp, {work, metadataPort})),
        // A loaded 2-core machine has taken 15 minutes to boot it under TCG.
        'scheduling: {waitTimeoutSeconds: 1800}',
        'compute:',
        '  guestReadyTimeoutSeconds: 1800',
        '  inventory: {VCPU: 8, MEMORY_MB: 4096, DISK_GB: 100}',
        '  reserved: {MEMORY_MB: 0}',
        'images:',
        `  debian: {path: ${join(work, 'debian-12.qcow2')}}`,
      ].join('\n') + '\n',
    )
    store = new InstanceStore(new EtcdTransport({endpoints: [cp.etcdEndpoint], prefix: '/ec', timeoutMs: 5000, tls: cp.clientTls}))
    agent = await startAgent(cp.env, 'debian-host', join(cp.sandbox.dir, 'agent'))
  })

  after(async () => {
    const {records} = (await store?.list()) ?? {records: []}
    if (records.length > 0) await ec(['instance', 'delete', ...records.map((r) => r.value.id)])
    await agent?.stop('SIGTERM')
    await store?.transport.close()
    await cp?.stop()
  })

  it('boots; ssh (verified host keys) reaches it, runcmd ran, --meta and --publish work; delete leaves nothing', async () => {
    const created = await ec(
      ['instance', 'create', 'web', '--vcpus', '1', '--memory', '1024', '--disk', '3', '--image', 'debian', '--key-file', join(work, 'id_ed25519.pub'),
        '--user-data', join(work, 'user-data'), '--meta', 'role=web', '--publish', '0:8000', '--wait', '--json'],
      1_900_000,
    )
    expect(created.code, `${created.stdout}\n${created.stderr}\n${agent.output()}`).to.equal(0)
    const vm = parseJson<InstanceRecord>(created)
    expect(vm.state).to.equal('ACTIVE')
    // no NAT'd source address passed off as the guest's
    expect(vm.address).to.equal(undefined)
    const ssh = vm.ports?.find((p) => p.guest === 22)
    const web = vm.ports?.find((p) => p.guest === 8000)
    expect(ssh?.host).to.match(/^127\.0\.0\.1:\d+$/)
    expect(web?.host).to.match(/^127\.0\.0\.1:\d+$/)
    expect(vm.hostKeys?.map((k) => k.split(' ')[0])).to.include('ssh-ed25519')
    const listed = await ec(['instance', 'list'])
    expect(listed.stdout).to.include(`${ssh!.host} (ssh)`)

    const hostname = await sshUntil(['cat', '/etc/hostname'])
    expect(hostname.code, hostname.stderr).to.equal(0)
    expect(hostname.stdout.trim()).to.equal('web')
    // the first connection was checked against the keys the guest reported, under its alias
    const knownHosts = readFileSync(join(cp.stateDir, 'ssh', 'known_hosts'), 'utf8')
    expect(knownHosts).to.include(`ec-${vm.id} ssh-ed25519 `)

    expect((await sshUntil(['cat', '/var/tmp/ec-runcmd'])).stdout.trim()).to.equal('runcmd-ran')
    const role = await sshUntil(['sudo', 'cloud-init', 'query', 'ds.meta_data.meta.role'])
    expect(role.stdout.trim(), role.stderr).to.equal('web')

    // --publish: the user-data's web server, through the host port
    const deadline = Date.now() + 120_000
    let page = ''
    while (Date.now() < deadline) {
      page = await fetch(`http://${web!.host}/`).then((r) => r.text(), () => '')
      if (page.includes('published-by-ec')) break
      await sleep(1000)
    }

    expect(page).to.include('published-by-ec')

    // a host key that is not the guest's is refused: ssh checks strictly
    const forged = {...vm, hostKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFake']}
    await store.update(vm.id, (r) => Object.assign(r, {hostKeys: forged.hostKeys}))
    const refused = await ec(['instance', 'ssh', 'web', '--', 'true'])
    expect(refused.code).to.equal(255)
    expect(refused.stderr).to.match(/HOST IDENTIFICATION HAS CHANGED|Host key verification failed/)

    expect((await ec(['instance', 'delete', 'web'])).code).to.equal(0)
    expect(Object.keys(await etcdKeys(cp.etcdEndpoint)).filter((k) => k.includes(vm.id))).to.deep.equal([])
    expect(await allocationsOf(cp.placementUrl, vm.id)).to.deep.equal({})
    expect(domainExists(vm.id), 'domain').to.equal(false)
    expect(existsSync(join(work, 'instances', vm.id)), 'instance directory').to.equal(false)
    expect(readdirSync(join(work, 'metadata')).filter((f) => f.includes(vm.id))).to.deep.equal([])
    expect(await portAnswers(ssh!.host), 'ssh forward closed').to.equal(false)
    expect(await portAnswers(web!.host), 'published port closed').to.equal(false)
  })
})
