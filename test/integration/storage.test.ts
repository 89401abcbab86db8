// Shared storage against a real Placement and etcd (`ec up`): `ec storage
// add|list|show|remove` through ./bin/run.js, candidates for a seeded
// topology (plain and NUMA hosts, a host with 4,000 GB of its own, two
// diskless NUMA hosts in an aggregate with shared disks of 10,000 and
// 100,000 GB), and real agents on libvirt's test:///default driver whose
// instances' disks land in the storage's directory. ~60 s.
import {randomUUID} from 'node:crypto'
import {existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {expect} from 'chai'

import {PlacementScheduler} from '../../plugins/placement/src/scheduler.js'
import type {InstanceRecord} from '../../src/instances/model.js'
import type {CandidatePreview, HostDetail, Inventory} from '@ec/plugin-api'
import type {StorageView} from '../../src/storage/view.js'
import {startAgent, type RunningAgent} from '../helpers/agent.js'
import {parseJson} from '../helpers/cli.js'
import {startControlPlane, type TestControlPlane} from '../helpers/control-plane.js'
import {makeQcow2} from '../helpers/image-server.js'
import {allocationsOf} from '../helpers/placement.js'

const inv = (amounts: Record<string, number>): Inventory[] =>
  Object.entries(amounts).map(([resourceClass, total]) => ({resourceClass, total, reserved: 0, allocationRatio: 1}))

const agentCompute = (trait: string, disk: number) => [
  'compute:',
  '  numa: "off"',
  `  traits: [${trait}]`,
  `  inventory: {VCPU: 4, MEMORY_MB: 8192, DISK_GB: ${disk}}`,
  '  reserved: {MEMORY_MB: 0}',
  '  allocationRatio: {VCPU: 1, MEMORY_MB: 1, DISK_GB: 1}',
]

describe('Shared storage (real Placement and etcd, real agents on test:///default)', function () {
  this.timeout(300_000)
  let cp: TestControlPlane
  let scheduler: PlacementScheduler
  let imageDir: string
  let storageDir: string
  const agents = new Map<string, RunningAgent>()

  const ec = (args: string[]) => cp.ec(args)
  const ok = async (args: string[]) => {
    const result = await ec(args)
    expect(result.code, `ec ${args.join(' ')}\n${result.stdout}${result.stderr}`).to.equal(0)
    return result
  }

  async function startHost(name: string, compute: string[]): Promise<RunningAgent> {
    const config = join(cp.sandbox.dir, `${name}.config.yaml`)
    writeFileSync(config, [readFileSync(cp.configFile, 'utf8'), ...compute].join('\n'))
    const agent = await startAgent({...cp.env, EC_CONFIG: config}, name, join(cp.sandbox.dir, 'agents', name))
    agents.set(name, agent)
    return agent
  }

  before(async () => {
    imageDir = mkdtempSync(join(tmpdir(), 'ec-images-'))
    storageDir = mkdtempSync(join(tmpdir(), 'ec-shared-disks-'))
    const base = makeQcow2(imageDir)
    cp = await startControlPlane(['backends: {metadata: none}', 'libvirt: {uri: "test:///default"}', 'images:', `  base: {path: ${base}}`].join('\n'))
    scheduler = new PlacementScheduler({
      url: cp.placementUrl, token: 'admin', projectId: 'ec-test', userId: 'ec-test',
      policy: 'pack', candidateLimit: 1000, claimRounds: 5, timeoutMs: 10_000, tls: cp.clientTls,
    })
  })

  after(async () => {
    await Promise.all([...agents.values()].map((a) => a.stop('SIGKILL')))
    await scheduler?.close()
    await cp?.stop()
    rmSync(imageDir, {recursive: true, force: true})
    rmSync(storageDir, {recursive: true, force: true})
  })

  it('add, list, show and remove through the CLI; bad input is refused with nothing left behind', async () => {
    const agg = `agg-${randomUUID().slice(0, 8)}`
    const host = await scheduler.registerHost({id: randomUUID(), name: `member-${randomUUID().slice(0, 6)}`, inventory: inv({VCPU: 4, MEMORY_MB: 4096}), traits: ['CUSTOM_STORAGE_CLI']})
    await ok(['host', 'aggregate', 'add', host.name, agg])

    const added = parseJson<StorageView>(await ok(['storage', 'add', 'pool1', '--disk-gb', '1234', '--aggregate', agg, '--path', `${storageDir}/`, '--json']))
    expect(added).to.include({name: 'pool1', capacityGb: 1234, usedGb: 0, path: storageDir})
    expect(added.traits).to.deep.equal(['CUSTOM_EC_STORAGE', 'MISC_SHARES_VIA_AGGREGATE'])
    expect(added.members).to.deep.equal([{id: host.id, name: host.name}])

    // Bad input: exit 2, one line, and no second storage in Placement or etcd.
    for (const [args, pattern] of [
      [['storage', 'add', 'pool2', '--disk-gb', '0', '--aggregate', agg], /--disk-gb must be a whole number/],
      [['storage', 'add', 'pool2', '--disk-gb', '10', '--aggregate', agg, '--path', 'relative/dir'], /is not an absolute directory/],
      [['storage', 'add', 'bad name', '--disk-gb', '10', '--aggregate', agg], /storage name "bad name" is not valid/],
      [['storage', 'add', 'pool2', '--disk-gb', '10', '--aggregate', 'no spaces allowed'], /neither a uuid nor a name/],
    ] as const) {
      const refused = await ec([...args])
      expect(refused.code, refused.stderr).to.equal(2)
      expect(refused.stderr).to.match(pattern)
      expect(refused.stderr.trim().split('\n')).to.have.length(1)
    }

    const duplicate = await ec(['storage', 'add', 'pool1', '--disk-gb', '10', '--aggregate', agg])
    expect(duplicate.code).to.equal(5)
    expect(duplicate.stderr).to.match(/named "pool1" exists already/)
    // A name a host has is taken too.
    expect((await ec(['storage', 'add', host.name, '--disk-gb', '10', '--aggregate', agg])).code).to.equal(5)

    const listed = parseJson<StorageView[]>(await ok(['storage', 'list', '--json']))
    expect(listed.map((s) => [s.name, s.capacityGb, s.usedGb, s.path, s.members.map((m) => m.name)])).to.deep.equal([['pool1', 1234, 0, storageDir, [host.name]]])
    const table = await ok(['storage', 'list'])
    expect(table.stdout).to.match(new RegExp(`pool1\\s+0/1234\\s+1234\\s+${storageDir}\\s+${host.name}`))

    const shown = parseJson<StorageView>(await ok(['storage', 'show', added.id, '--json']))
    expect(shown.name).to.equal('pool1')
    expect((await ok(['storage', 'show', 'pool1'])).stdout).to.match(/^shared storage pool1 /).and.match(/members: member-/)
    // The host sees the storage it reaches.
    expect(parseJson<HostDetail>(await ok(['host', 'show', host.name, '--json'])).sharedStorage.map((s) => s.name)).to.deep.equal(['pool1'])

    const missing = await ec(['storage', 'show', 'nope'])
    expect(missing.code).to.equal(6)
    expect(missing.stderr).to.match(/no shared storage "nope"/)
    // A host is not storage, and ec storage remove does not touch it.
    expect((await ec(['storage', 'remove', host.name])).code).to.equal(6)

    await ok(['storage', 'remove', 'pool1'])
    expect(parseJson<StorageView[]>(await ok(['storage', 'list', '--json']))).to.deep.equal([])
    expect((await ec(['storage', 'remove', 'pool1'])).code).to.equal(6)
    await scheduler.removeHost(host.id)
  })

  it('seeded topology: candidates by disk size, and RAM from a NUMA node with disk from a shared disk in one allocation', async () => {
    const tag = `CUSTOM_SEED_${randomUUID().replaceAll('-', '').slice(0, 12).toUpperCase()}`
    const agg = `seed-${randomUUID().slice(0, 8)}`
    const suffix = randomUUID().slice(0, 6)
    const numa = (perNode: Record<string, number>) => [0, 1].map((node) => ({node, inventory: inv(perNode)}))
    const register = (name: string, root: Record<string, number>, nodes?: Record<string, number>) =>
      scheduler.registerHost({id: randomUUID(), name: `${name}-${suffix}`, inventory: inv(root), traits: [tag], ...(nodes ? {numaNodes: numa(nodes)} : {})})
    // Plain hosts and NUMA hosts side by side, each with 1,000 GB of its own.
    for (const name of ['plaina', 'plainb']) await register(name, {VCPU: 16, MEMORY_MB: 32_768, DISK_GB: 1000})
    for (const name of ['numaa', 'numab']) await register(name, {DISK_GB: 1000}, {VCPU: 8, MEMORY_MB: 16_384})
    await register('local', {VCPU: 16, MEMORY_MB: 32_768, DISK_GB: 4000})
    for (const name of ['disklessa', 'disklessb']) {
      const host = await register(name, {}, {VCPU: 8, MEMORY_MB: 16_384})
      await ok(['host', 'aggregate', 'add', host.name, agg])
    }

    await ok(['storage', 'add', `small-${suffix}`, '--disk-gb', '10000', '--aggregate', agg])
    await ok(['storage', 'add', `big-${suffix}`, '--disk-gb', '100000', '--aggregate', agg])

    /** What ec's own request (VCPU and memory from one NUMA node, the disk anywhere) is offered: "host:disk provider". */
    const offered = async (gb: number, extra: string[] = []) => {
      const dry = await ec(['instance', 'create', '--dry-run', '--json', '--image', 'base', '--root-trait', tag, '--vcpus', '1', '--memory', '2048', '--disk', String(gb), ...extra])
      if (dry.code === 7) return []
      expect(dry.code, dry.stderr).to.equal(0)
      const preview = parseJson<CandidatePreview>(dry)
      const shapes = preview.candidates.map((c) => {
        const disk = c.providers.find((p) => p.resources.DISK_GB !== undefined)!
        const memory = c.providers.find((p) => p.resources.MEMORY_MB !== undefined)!
        expect(memory.resources).to.include({VCPU: 1, MEMORY_MB: 2048}) // one provider gives both (a flat host its disk too)
        return `${c.hostName.replace(`-${suffix}`, '')}:${disk.name.replace(`-${suffix}`, '')}`
      })
      return [...new Set(shapes)].sort()
    }

    expect(await offered(2000)).to.deep.equal(['disklessa:big', 'disklessa:small', 'disklessb:big', 'disklessb:small', 'local:local'])
    expect(await offered(8000)).to.deep.equal(['disklessa:big', 'disklessa:small', 'disklessb:big', 'disklessb:small'])
    expect(await offered(50_000)).to.deep.equal(['disklessa:big', 'disklessb:big'])
    expect(await offered(200_000)).to.deep.equal([])
    expect(await offered(500)).to.include.members(['plaina:plaina', 'numaa:numaa', 'local:local', 'disklessa:small'])
    expect(await offered(500, ['--disk-from', 'local'])).to.not.include.members(['disklessa:small', 'disklessa:big'])
    expect((await offered(500, ['--disk-from', 'shared'])).every((shape) => /^diskless[ab]:(small|big)$/.test(shape))).to.equal(true)

    // RAM from a NUMA child and disk from a shared disk, claimed in one allocation.
    const consumer = randomUUID()
    try {
      const request = {resources: {DISK_GB: 50_000}, requiredTraits: [], forbiddenTraits: [], memberOf: [], rootRequiredTraits: [tag],
        groups: [{suffix: '_NUMA0', resources: {VCPU: 2, MEMORY_MB: 4096}, requiredTraits: [], forbiddenTraits: [], memberOf: []}]}
      const claim = await scheduler.claim(consumer, request)
      const held = await allocationsOf(cp.placementUrl, consumer)
      const host = await scheduler.describeHost(claim.hostId)
      expect(host.name).to.match(/^diskless[ab]-/)
      const node = host.providers.find((p) => held[p.id] !== undefined)!
      expect(node.parentId).to.equal(host.id)
      expect(held[node.id]).to.deep.equal({VCPU: 2, MEMORY_MB: 4096})
      const big = parseJson<StorageView>(await ok(['storage', 'show', `big-${suffix}`, '--json']))
      expect(held[big.id]).to.deep.equal({DISK_GB: 50_000})
      expect(Object.keys(held)).to.have.length(2)
      expect(parseJson<StorageView>(await ok(['storage', 'show', `big-${suffix}`, '--json'])).usedGb).to.equal(50_000)
    } finally {
      await scheduler.release(consumer)
    }

    // Out of the way of the next test: these hosts have no agent.
    for (const host of await scheduler.listHosts()) if (host.traits.includes(tag)) await scheduler.setSchedulable(host.id, false)
  })

  it('an instance on a diskless member host gets its disk in the storage directory; remove is refused while it is there', async function () {
    this.timeout(600_000) // two agents and three creates to ACTIVE; slow on a loaded 2-core machine
    const agg = 'e2e-agg'
    const diskless = await startHost('diskless', agentCompute('CUSTOM_E2E_DISKLESS', 0))
    const local = await startHost('with-disk', agentCompute('CUSTOM_E2E_LOCAL', 100))
    // compute.inventory.DISK_GB: 0 — the host has no disk of its own.
    const detail = parseJson<HostDetail>(await ok(['host', 'show', 'diskless', '--json']))
    expect(detail.providers[0].inventory.map((i) => i.resourceClass)).to.deep.equal(['MEMORY_MB', 'VCPU'])
    for (const host of ['diskless', 'with-disk']) await ok(['host', 'aggregate', 'add', host, agg])
    const storage = parseJson<StorageView>(await ok(['storage', 'add', 'e2e', '--disk-gb', '500', '--aggregate', agg, '--path', storageDir, '--json']))
    expect(storage.members.map((m) => m.name)).to.deep.equal(['diskless', 'with-disk'])

    const create = async (...args: string[]) => {
      const record = parseJson<InstanceRecord>(await ok(['instance', 'create', '--image', 'base', '--wait', '--json', '--vcpus', '1', '--memory', '512', '--disk', '2', ...args]))
      expect(record.state, JSON.stringify(record.error)).to.equal('ACTIVE')
      return record
    }

    const onShared = await create('--root-trait', 'CUSTOM_E2E_DISKLESS')
    const onLocal = await create('--root-trait', 'CUSTOM_E2E_LOCAL')
    const asked = await create('--root-trait', 'CUSTOM_E2E_LOCAL', '--disk-from', 'shared')
    try {
      expect((await allocationsOf(cp.placementUrl, onShared.id))[storage.id]).to.deep.equal({DISK_GB: 2})
      expect((await allocationsOf(cp.placementUrl, asked.id))[storage.id]).to.deep.equal({DISK_GB: 2})
      // A host with a disk of its own uses it unless asked otherwise.
      expect((await allocationsOf(cp.placementUrl, onLocal.id))[local.hostId()]).to.deep.equal({VCPU: 1, MEMORY_MB: 512, DISK_GB: 2})

      for (const [record, agent] of [[onShared, diskless], [asked, local]] as const) {
        expect(existsSync(join(storageDir, `${record.id}.qcow2`)), record.id).to.equal(true)
        expect(readlinkSync(join(agent.stateDir, 'compute', 'instances', record.id, 'disk.qcow2'))).to.equal(join(storageDir, `${record.id}.qcow2`))
        expect(agent.output()).to.include(`disk of ${record.id} on shared storage e2e: ${storageDir}`)
      }

      expect(existsSync(join(storageDir, `${onLocal.id}.qcow2`))).to.equal(false)
      const listed = parseJson<StorageView[]>(await ok(['storage', 'list', '--json']))
      expect(listed.find((s) => s.name === 'e2e')).to.include({usedGb: 4, capacityGb: 500})

      const refused = await ec(['storage', 'remove', 'e2e'])
      expect(refused.code, refused.stderr).to.equal(5)
      expect(refused.stderr).to.match(/shared storage e2e holds the disks of 2 instance\(s\); delete them first/)
      expect(refused.stderr.trim().split('\n')).to.have.length(1)
      expect(parseJson<StorageView>(await ok(['storage', 'show', 'e2e', '--json']))).to.include({path: storageDir, usedGb: 4})
    } finally {
      for (const record of [onShared, onLocal, asked]) await ec(['instance', 'delete', record.id])
    }

    // The agent removed the disks on the storage with the guests.
    for (const record of [onShared, asked]) expect(existsSync(join(storageDir, `${record.id}.qcow2`)), record.id).to.equal(false)
    await ok(['storage', 'remove', 'e2e'])
    expect((await ec(['storage', 'show', 'e2e'])).code).to.equal(6)
  })
})
