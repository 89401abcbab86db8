// Scheduling and running instances end to end: the real CLI, real etcd, real
// Placement, and real `ec compute start` agents whose hypervisor is libvirt's
// built-in test:///default driver (domains are defined and "run" without a guest).
import {expect} from 'chai'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {EtcdTransport} from '../../plugins/etcd/src/transport.js'
import type {InstanceRecord} from '../../src/instances/model.js'
import type {CachedImage} from '@ec/plugin-api'
import {InstanceStore} from '../../src/instances/store.js'
import {startAgent, type RunningAgent} from '../helpers/agent.js'
import {parseJson, runEc, type RunResult} from '../helpers/cli.js'
import {startControlPlane, type TestControlPlane} from '../helpers/control-plane.js'
import {etcdKeys} from '../helpers/etcd.js'
import {makeQcow2, startImageServer, type ImageServer} from '../helpers/image-server.js'
import {freePorts} from '../helpers/ports.js'
import {allocationsOf, deleteAllocations, providers} from '../helpers/placement.js'

// 20 simultaneous creates must all complete on one host: pack fills host-a with 20 before host-b.
const HOST_VCPUS = 20

describe('instances end to end (real etcd, Placement, agents on test:///default)', function () {
  this.timeout(180_000)
  let cp: TestControlPlane
  let images: ImageServer
  let store: InstanceStore
  const agents: RunningAgent[] = []

  const ec = (args: string[]): Promise<RunResult> => cp.ec(args)
  const agentDir = (name: string) => join(cp.sandbox.dir, 'agents', name)
  const start = async (name: string) => {
    const agent = await startAgent(cp.env, name, agentDir(name))
    agents.push(agent)
    return agent
  }

  async function record(ref: string): Promise<InstanceRecord | undefined> {
    return (await store.find(ref))?.value
  }

  async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = await probe()
      if (value) return value
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await sleep(100)
    }
  }

  /** Wait for a state; on time-out, say where the instance is and what the agents warned about. */
  async function waitForState(ref: string, state: InstanceRecord['state']): Promise<InstanceRecord> {
    try {
      return await waitFor(`${ref} to be ${state}`, async () => {
        const r = await record(ref)
        return r?.state === state ? r : undefined
      })
    } catch (error) {
      const r = await record(ref)
      const where = r ? `${r.state} at ${r.step ?? '-'} on ${r.host?.name ?? '-'}${r.error ? `: ${r.error.reason}` : ''}` : 'gone'
      const warnings = agents.flatMap((a) => a.output().split('\n').filter((l) => / (warn|error) /.test(l)).map((l) => `${a.name}: ${l}`))
      throw new Error(`${(error as Error).message}; it is ${where}\nagent warnings:\n${warnings.join('\n') || '(none)'}`, {cause: error})
    }
  }

  /** No instance, name or assignment key and no allocation is left for these ids. */
  async function expectNoTrace(ids: string[]): Promise<void> {
    const keys = Object.keys(await etcdKeys(cp.etcdEndpoint))
    for (const id of ids) {
      expect(keys.filter((k) => k.includes(id)), `keys of ${id}`).to.deep.equal([])
      expect(await allocationsOf(cp.placementUrl, id), `allocations of ${id}`).to.deep.equal({})
    }

    expect(keys.filter((k) => k.startsWith('names/') || k.startsWith('instances/'))).to.deep.equal([])
  }

  let imageDir: string
  before(async () => {
    imageDir = mkdtempSync(join(tmpdir(), 'ec-images-'))
    const base = makeQcow2(imageDir)
    images = await startImageServer({'/base.qcow2': base})
    cp = await startControlPlane(
      [
        'backends: {metadata: none}',
        'libvirt: {uri: "test:///default"}',
        'compute:',
        '  leaseTtlSeconds: 3',
        '  shutdownGraceSeconds: 5',
        // Often, so that checks overlap builds: a build finishing is never a vanished guest.
        '  resyncSeconds: 1',
        `  inventory: {VCPU: ${HOST_VCPUS}, MEMORY_MB: 8192, DISK_GB: 200}`,
        '  reserved: {MEMORY_MB: 0}',
        '  allocationRatio: {VCPU: 1, MEMORY_MB: 1, DISK_GB: 1}',
        'scheduling: {deleteTimeoutSeconds: 30, waitTimeoutSeconds: 60}',
        'flavors:',
        '  one: {vcpus: 1, memoryMb: 128, diskGb: 1}',
        'images:',
        `  base: {path: ${base}}`,
        `  slow: {url: "${images.url('/base.qcow2')}"}`,
        `  gone: {url: "${images.url('/missing.qcow2')}"}`,
      ].join('\n'),
    )
    store = new InstanceStore(new EtcdTransport({endpoints: [cp.etcdEndpoint], prefix: '/ec', timeoutMs: 5000, tls: cp.clientTls}))
    await start('host-a')
    await start('host-b')
  })

  // One failure stays one failure: whatever a test left behind (instances,
  // a stopped agent) is cleared before the next one starts.
  afterEach(async () => {
    for (const name of ['host-a', 'host-b']) {
      if (!agents.some((a) => a.name === name && a.child.exitCode === null && a.child.signalCode === null)) await start(name)
    }

    const {records} = await store.list()
    if (records.length > 0) {
      const deleted = await ec(['instance', 'delete', ...records.map((r) => r.value.id)])
      if (deleted.code !== 0) throw new Error(`cleanup: ec instance delete failed (exit ${deleted.code}): ${deleted.stderr}`)
    }
  })

  after(async () => {
    await Promise.all(agents.map((a) => a.stop('SIGKILL')))
    await store?.transport.close()
    await images?.close()
    await cp?.stop()
    rmSync(imageDir, {recursive: true, force: true})
  })

  it('creates an instance that goes ACTIVE, shows and lists it, and deletes it without a trace', async () => {
    const created = await ec(['instance', 'create', 'web1', '--flavor', 'one', '--image', 'base', '--wait', '--json'])
    expect(created.code, created.stderr).to.equal(0)
    const active = parseJson<InstanceRecord>(created)
    expect(active).to.include({name: 'web1', state: 'ACTIVE'})
    expect(active.host?.name).to.be.oneOf(['host-a', 'host-b'])
    expect(Object.keys(active.steps)).to.include.members(['candidates', 'claim', 'notify', 'accepted', 'image', 'disk', 'define', 'boot', 'guest'])
    expect(await allocationsOf(cp.placementUrl, active.id)).to.deep.equal({
      [active.host!.id]: {VCPU: 1, MEMORY_MB: 128, DISK_GB: 1},
    })

    const shown = parseJson<InstanceRecord>(await ec(['instance', 'show', 'web1', '--json']))
    expect(shown.id).to.equal(active.id)
    const text = await ec(['instance', 'show', active.id])
    expect(text.stdout).to.match(/^state\s+ACTIVE$/m)
    const listed = parseJson<InstanceRecord[]>(await ec(['instance', 'list', '--json', '--state', 'ACTIVE']))
    expect(listed.map((r) => r.name)).to.deep.equal(['web1'])

    const deleted = await ec(['instance', 'delete', 'web1'])
    expect(deleted.code, deleted.stderr).to.equal(0)
    expect(deleted.stdout.trim()).to.equal('web1: deleted')
    await expectNoTrace([active.id])
    const diskDir = join(agentDir(active.host!.name), 'compute', 'instances', active.id)
    expect(existsSync(diskDir), diskDir).to.equal(false)
    const again = await ec(['instance', 'delete', 'web1'])
    expect(again.code).to.equal(0)
    expect(again.stdout.trim()).to.equal('web1: not found (nothing to delete)')
  })

  it('shows the steps as plain timestamped lines without a terminal', async () => {
    const created = await ec(['instance', 'create', 'plain1', '--flavor', 'one', '--image', 'base', '--wait'])
    expect(created.code, created.stderr).to.equal(0)
    for (const label of ['Find candidate hosts', 'Claim resources', 'Host accepted', 'Disk', 'Boot', 'Guest ready']) {
      expect(created.stdout).to.match(new RegExp(`\\[\\d{2}:\\d{2}:\\d{2}\\].*${label}`))
    }

    expect((await ec(['instance', 'delete', 'plain1'])).code).to.equal(0)
  })

  it('runs two agents as two hosts with their own provider uuids; spread uses both', async () => {
    const [a, b] = agents
    expect(a.hostId()).to.not.equal(b.hostId())
    const names = (await providers(cp.placementUrl)).map((p) => p.name).sort()
    expect(names).to.deep.equal(['host-a', 'host-b'])
    const hosts = parseJson<Array<{name: string; alive: boolean; schedulable: boolean}>>(await ec(['host', 'list', '--json']))
    expect(hosts.map((h) => [h.name, h.alive, h.schedulable])).to.deep.equal([
      ['host-a', true, true],
      ['host-b', true, true],
    ])
    const placed = new Set<string>()
    for (const name of ['s1', 's2']) {
      const result = await ec(['instance', 'create', name, '--flavor', 'one', '--image', 'base', '--policy', 'spread', '--no-wait', '--json'])
      expect(result.code, result.stderr).to.equal(0)
      placed.add(parseJson<InstanceRecord>(result).host!.name)
      await waitForState(name, 'ACTIVE')
    }

    expect([...placed].sort()).to.deep.equal(['host-a', 'host-b'])
    expect((await ec(['instance', 'delete', 's1', 's2'])).code).to.equal(0)
  })

  it('refuses a request no host can hold: exit 7, the resource named, nothing claimed', async () => {
    const result = await ec(['instance', 'create', 'huge', '--vcpus', String(HOST_VCPUS + 1), '--memory', '128', '--disk', '1', '--image', 'base'])
    expect(result.code).to.equal(7)
    expect(result.stderr.trim()).to.match(new RegExp(`^Error: no host has ${HOST_VCPUS + 1} VCPU free`))
    expect(await record('huge')).to.equal(undefined)
    await expectNoTrace([])
  })

  it('50 concurrent creates never over-commit a host, and none is lost', async () => {
    const results = await Promise.all(
      Array.from({length: 50}, (_, i) => ec(['instance', 'create', `c${i}`, '--flavor', 'one', '--image', 'base', '--no-wait', '--json'])),
    )
    const created = results.filter((r) => r.code === 0).map((r) => parseJson<InstanceRecord>(r))
    const refused = results.filter((r) => r.code !== 0)
    for (const r of refused) expect(r.code, r.stdout + r.stderr).to.equal(7)
    expect(created).to.have.length(2 * HOST_VCPUS)
    for (const r of created) await waitForState(r.id, 'ACTIVE')
    const perHost = new Map<string, number>()
    for (const r of created) perHost.set(r.host!.name, (perHost.get(r.host!.name) ?? 0) + 1)
    expect([...perHost.values()], 'instances per host').to.deep.equal([HOST_VCPUS, HOST_VCPUS])
    for (const provider of await providers(cp.placementUrl)) {
      for (const [cls, used] of Object.entries(provider.usages)) {
        expect(used, `${provider.name} ${cls}`).to.be.at.most(provider.capacity[cls])
      }
    }

    const {records} = await store.list()
    expect(records.map((r) => r.value.state).sort()).to.deep.equal(Array.from({length: created.length}, () => 'ACTIVE'))
    const deleted = await ec(['instance', 'delete', ...created.map((r) => r.name)])
    expect(deleted.code, deleted.stderr).to.equal(0)
    await expectNoTrace(created.map((r) => r.id))
  })

  it('deletes an instance during its build: the build stops, nothing is left', async () => {
    images.hold('/base.qcow2')
    try {
      const created = parseJson<InstanceRecord>(await ec(['instance', 'create', 'd1', '--flavor', 'one', '--image', 'slow', '--no-wait', '--json']))
      await waitFor('d1 in its image step', async () => (await record('d1'))?.step === 'image')
      const deleted = await ec(['instance', 'delete', 'd1'])
      expect(deleted.code, deleted.stderr).to.equal(0)
      await expectNoTrace([created.id])
    } finally {
      images.release('/base.qcow2')
    }
  })

  it('a bad image ends in ERROR with the reason, holding no allocation; delete clears it', async () => {
    const result = await ec(['instance', 'create', 'bad1', '--flavor', 'one', '--image', 'gone', '--wait'])
    expect(result.code).to.equal(11)
    expect(result.stderr).to.match(/Error: bad1 failed at image: .*404/)
    const failed = (await record('bad1'))!
    expect(failed.state).to.equal('ERROR')
    expect(failed.error?.step).to.equal('image')
    expect(await allocationsOf(cp.placementUrl, failed.id)).to.deep.equal({})
    expect((await ec(['instance', 'delete', 'bad1'])).code).to.equal(0)
    await expectNoTrace([failed.id])
  })

  it('kill -9 of the agent mid-build, then restart: the build resumes to ACTIVE, no allocation leaks', async () => {
    images.hold('/base.qcow2')
    let id: string
    try {
      const created = await ec(['instance', 'create', 'k1', '--flavor', 'one', '--image', 'slow', '--no-wait', '--json'])
      expect(created.code, created.stderr).to.equal(0)
      id = parseJson<InstanceRecord>(created).id
      const assigned = parseJson<InstanceRecord>(created).host!.name
      const agent = agents.find((a) => a.name === assigned)!
      await waitFor('k1 in its image step', async () => (await record('k1'))?.step === 'image')
      await agent.stop('SIGKILL')
      agents.splice(agents.indexOf(agent), 1)
    } finally {
      images.release('/base.qcow2')
    }

    const host = (await record('k1'))!.host!.name
    expect((await record('k1'))!.state).to.equal('BUILDING')
    const restarted = await start(host)
    const active = await waitForState('k1', 'ACTIVE')
    expect(active.buildAttempts).to.equal(2)
    expect(restarted.output()).to.include('resuming the build of k1')
    expect(Object.keys(await allocationsOf(cp.placementUrl, id))).to.deep.equal([active.host!.id])
    expect((await providers(cp.placementUrl)).map((p) => p.name).sort()).to.deep.equal(['host-a', 'host-b'])
    expect((await ec(['instance', 'delete', 'k1'])).code).to.equal(0)
    await expectNoTrace([id])
  })

  it('stops a guest whose allocation was released behind its back: ERROR with the reason, nothing held', async () => {
    const created = parseJson<InstanceRecord>(await ec(['instance', 'create', 'al1', '--flavor', 'one', '--image', 'base', '--wait', '--json']))
    expect(created.state).to.equal('ACTIVE')
    await deleteAllocations(cp.placementUrl, created.id)
    const failed = await waitForState('al1', 'ERROR')
    expect(failed.error?.reason).to.match(/its allocation in the scheduler is gone/)
    const diskDir = join(agentDir(created.host!.name), 'compute', 'instances', created.id)
    await waitFor('the guest and its disk to be removed', async () => !existsSync(diskDir))
    expect(await allocationsOf(cp.placementUrl, created.id)).to.deep.equal({})
    expect((await ec(['instance', 'delete', 'al1'])).code).to.equal(0)
    await expectNoTrace([created.id])
  })

  it('deletes an instance whose host is dead; the host removes the leftovers when it returns', async () => {
    const created = parseJson<InstanceRecord>(await ec(['instance', 'create', 'h1', '--flavor', 'one', '--image', 'base', '--wait', '--json']))
    const host = created.host!.name
    const agent = agents.find((a) => a.name === host)!
    await agent.stop('SIGKILL')
    agents.splice(agents.indexOf(agent), 1)
    await waitFor('the dead host to lose its liveness key', async () => {
      const keys = await etcdKeys(cp.etcdEndpoint)
      return !(`hosts/${created.host!.id}/alive` in keys)
    })
    const deleted = await ec(['instance', 'delete', 'h1'])
    expect(deleted.code, deleted.stderr).to.equal(0)
    expect(deleted.stdout.trim()).to.equal('h1: deleted; its host is down and will remove the guest when it returns')
    await expectNoTrace([created.id])
    const diskDir = join(agentDir(host), 'compute', 'instances', created.id)
    expect(existsSync(diskDir)).to.equal(true)
    await start(host)
    await waitFor('the returned host to remove the leftover disk', async () => !existsSync(diskDir))
  })

  it('follows its assignments across an etcd restart: nothing is lost', async () => {
    const before = parseJson<InstanceRecord>(await ec(['instance', 'create', 'e1', '--flavor', 'one', '--image', 'base', '--wait', '--json']))
    expect((await ec(['down'])).code).to.equal(0)
    const up = await ec(['up'])
    expect(up.code, up.stderr).to.equal(0)
    const after = await Promise.all(
      ['e2', 'e3', 'e4'].map(async (name) => {
        const result = await ec(['instance', 'create', name, '--flavor', 'one', '--image', 'base', '--no-wait', '--json'])
        expect(result.code, result.stderr).to.equal(0)
        return parseJson<InstanceRecord>(result)
      }),
    )
    for (const r of after) await waitForState(r.name, 'ACTIVE')
    expect((await record('e1'))!.state).to.equal('ACTIVE')
    expect((await ec(['instance', 'delete', 'e1', 'e2', 'e3', 'e4'])).code).to.equal(0)
    await expectNoTrace([before.id, ...after.map((r) => r.id)])
  })

  it("keeps downloads in the host's image cache: list shows what is in use, prune removes only the rest", async () => {
    const created = parseJson<InstanceRecord>(await ec(['instance', 'create', 'img1', '--flavor', 'one', '--image', 'slow', '--wait', '--json']))
    const dir = agentDir(created.host!.name)
    const listed = parseJson<CachedImage[]>(await ec(['image', 'list', '--state-dir', dir, '--json']))
    expect(listed.map((i) => [i.url, i.inUse])).to.deep.equal([[images.url('/base.qcow2'), true]])
    expect(parseJson<CachedImage[]>(await ec(['image', 'prune', '--state-dir', dir, '--json']))).to.deep.equal([])
    expect(existsSync(listed[0].path)).to.equal(true)
    expect((await ec(['instance', 'delete', 'img1'])).code).to.equal(0)
    const pruned = parseJson<CachedImage[]>(await ec(['image', 'prune', '--state-dir', dir, '--json']))
    expect(pruned.map((i) => i.url)).to.deep.equal([images.url('/base.qcow2')])
    expect(existsSync(listed[0].path)).to.equal(false)
  })

  it("prints the console on the instance's host, and names that host anywhere else", async () => {
    const created = parseJson<InstanceRecord>(await ec(['instance', 'create', 'con1', '--flavor', 'one', '--image', 'base', '--wait', '--json']))
    const elsewhere = await ec(['instance', 'console', 'con1'])
    expect(elsewhere.code).to.equal(2)
    expect(elsewhere.stderr.trim()).to.equal(`Error: the console of con1 is kept on host ${created.host!.name}; run "ec instance console con1" there`)
    const here = await ec(['instance', 'console', 'con1', '--state-dir', agentDir(created.host!.name)])
    expect(here.code, here.stderr).to.equal(0)
    expect((await ec(['instance', 'delete', 'con1'])).code).to.equal(0)
  })

  it('on SIGTERM leaves scheduling (COMPUTE_STATUS_DISABLED) and exits; a restart reuses its provider', async () => {
    const agent = agents.find((a) => a.name === 'host-a')!
    const id = agent.hostId()
    expect(await agent.stop('SIGTERM')).to.equal(0)
    agents.splice(agents.indexOf(agent), 1)
    const stopped = (await providers(cp.placementUrl)).find((p) => p.name === 'host-a')!
    expect(stopped.uuid).to.equal(id)
    expect(stopped.traits).to.include('COMPUTE_STATUS_DISABLED')
    const restarted = await start('host-a')
    expect(restarted.hostId()).to.equal(id)
    const back = (await providers(cp.placementUrl)).find((p) => p.name === 'host-a')!
    expect(back.traits).to.not.include('COMPUTE_STATUS_DISABLED')
    expect((await providers(cp.placementUrl)).filter((p) => p.name === 'host-a')).to.have.length(1)
  })

  describe('bad input: one line, a documented exit code, no partial state', () => {
    const cases: Array<[string, string[], number, RegExp]> = [
      ['a malformed resource string', ['instance', 'create', 'resources=VCPU', '--image', 'base'], 2, /^Error: malformed resource request "resources=VCPU": "VCPU" is not RESOURCE_CLASS:AMOUNT$/],
      ['an unknown flavor', ['instance', 'create', 'x1', '--flavor', 'huge', '--image', 'base'], 6, /^Error: unknown flavor "huge"; configured flavors: medium, one, small, tiny$/],
      ['an unknown image', ['instance', 'create', 'x1', '--flavor', 'one', '--image', 'nope'], 6, /^Error: unknown image "nope": not a configured image \(base, gone, slow\), an http\(s\) URL, or an existing file$/],
      ['a zero size', ['instance', 'create', 'x1', '--vcpus', '0', '--memory', '64', '--disk', '1', '--image', 'base'], 2, /^Error: --vcpus must be a whole number from 1 to 2147483647, got "0" \(see ec instance create --help\)$/],
      ['a bad name', ['instance', 'create', 'Bad_Name', '--flavor', 'one', '--image', 'base'], 2, /^Error: instance name "Bad_Name" is not valid/],
    ]
    for (const [what, args, code, message] of cases) {
      it(what, async () => {
        const result = await ec(args)
        expect(result.code, result.stderr).to.equal(code)
        expect(result.stderr.trim()).to.match(message)
        await expectNoTrace([])
      })
    }

    it('a name that is taken: exit 5, the first instance untouched', async () => {
      const first = parseJson<InstanceRecord>(await ec(['instance', 'create', 'dup', '--flavor', 'one', '--image', 'base', '--no-wait', '--json']))
      const second = await ec(['instance', 'create', 'dup', '--flavor', 'one', '--image', 'base'])
      expect(second.code).to.equal(5)
      expect(second.stderr.trim()).to.equal('Error: an instance named "dup" already exists; pick another name or delete it first')
      expect((await record('dup'))!.id).to.equal(first.id)
      expect((await ec(['instance', 'delete', 'dup'])).code).to.equal(0)
      await expectNoTrace([first.id])
    })

    it('an unreachable etcd or Placement: exit 4, the endpoint named, ec up suggested', async () => {
      const [dead] = await freePorts(1)
      const etcdDown = await runEc(['instance', 'list'], {env: {...cp.env, EC_ETCD_ENDPOINTS: `http://127.0.0.1:${dead}`}})
      expect(etcdDown.code).to.equal(4)
      expect(etcdDown.stderr.trim()).to.equal(
        `Error: etcd at http://127.0.0.1:${dead} does not answer; start a local control plane with "ec up" or set etcd.endpoints (EC_ETCD_ENDPOINTS)`,
      )
      const placementDown = await runEc(['instance', 'create', 'p1', '--flavor', 'one', '--image', 'base'], {
        env: {...cp.env, EC_PLACEMENT_URL: `http://127.0.0.1:${dead}`},
      })
      expect(placementDown.code).to.equal(4)
      expect(placementDown.stderr.trim()).to.equal(
        `Error: Placement at http://127.0.0.1:${dead} does not answer; start a local control plane with "ec up" or set placement.url (EC_PLACEMENT_URL)`,
      )
      await expectNoTrace([])
    })
  })
})
