// Placement's model through the CLI with real agents (libvirt's test:///default
// driver): a host with two NUMA nodes (a topology given in config; Placement is
// real) beside a flat one. Traits the agents report, pinning to nodes, the
// request language, --dry-run, and trait ownership across a restart. ~40 s.
import {expect} from 'chai'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {CandidatePreview, HostDetail} from '@ec/plugin-api'
import type {InstanceRecord} from '../../src/instances/model.js'
import {startAgent, type RunningAgent} from '../helpers/agent.js'
import {parseJson} from '../helpers/cli.js'
import {startControlPlane, type TestControlPlane} from '../helpers/control-plane.js'
import {makeQcow2} from '../helpers/image-server.js'
import {allocationsOf, providers} from '../helpers/placement.js'

const NUMA_COMPUTE = [
  'compute:',
  '  numa: {nodes: [{cpus: "0-1", memoryMb: 4096}, {cpus: "2-3", memoryMb: 4096}]}',
  '  inventory: {DISK_GB: 100}',
  '  reserved: {MEMORY_MB: 0}',
  '  allocationRatio: {VCPU: 1, MEMORY_MB: 1, DISK_GB: 1}',
]
const flatCompute = (traits: string[]) => [
  'compute:',
  '  numa: "off"',
  `  traits: [${traits.join(', ')}]`,
  '  inventory: {VCPU: 4, MEMORY_MB: 8192, DISK_GB: 100}',
  '  reserved: {MEMORY_MB: 0}',
  '  allocationRatio: {VCPU: 1, MEMORY_MB: 1, DISK_GB: 1}',
]

describe("Placement's model with real agents (NUMA nodes, traits, request language, dry run)", function () {
  this.timeout(240_000)
  let cp: TestControlPlane
  let imageDir: string
  const agents = new Map<string, RunningAgent>()

  const ec = (args: string[]) => cp.ec(args)

  /** An agent with a config of its own: the shared one plus its compute section. */
  async function startHost(name: string, compute: string[]): Promise<RunningAgent> {
    const config = join(cp.sandbox.dir, `${name}.config.yaml`)
    writeFileSync(config, [readFileSync(cp.configFile, 'utf8'), ...compute].join('\n'))
    const agent = await startAgent({...cp.env, EC_CONFIG: config}, name, join(cp.sandbox.dir, 'agents', name))
    agents.set(name, agent)
    return agent
  }

  async function create(args: string[]): Promise<InstanceRecord> {
    const result = await ec(['instance', 'create', '--image', 'base', '--wait', '--json', ...args])
    expect(result.code, result.stdout + result.stderr).to.equal(0)
    const record = parseJson<InstanceRecord>(result)
    expect(record.state).to.equal('ACTIVE')
    return record
  }

  before(async () => {
    imageDir = mkdtempSync(join(tmpdir(), 'ec-images-'))
    const base = makeQcow2(imageDir)
    cp = await startControlPlane(['backends: {metadata: none}', 'libvirt: {uri: "test:///default"}', 'images:', `  base: {path: ${base}}`].join('\n'))
    await startHost('numa-host', NUMA_COMPUTE)
    await startHost('flat-host', flatCompute(['CUSTOM_FLAT']))
  })

  after(async () => {
    await Promise.all([...agents.values()].map((a) => a.stop('SIGKILL')))
    await cp?.stop()
    rmSync(imageDir, {recursive: true, force: true})
  })

  it('shows a host as its tree: the root with the disk and what the agent reported, a child per NUMA node', async () => {
    const host = parseJson<HostDetail>(await ec(['host', 'show', 'numa-host', '--json']))
    expect(host.providers.map((p) => [p.name, p.inventory.map((i) => `${i.resourceClass}:${i.total}`).join(',')])).to.deep.equal([
      ['numa-host', 'DISK_GB:100'],
      ['numa-host_NUMA0', 'MEMORY_MB:4096,VCPU:2'],
      ['numa-host_NUMA1', 'MEMORY_MB:4096,VCPU:2'],
    ])
    const traits = host.providers[0].traits
    // This machine's CPU (x86-64 always has SSE2), the libvirt backend's capabilities, ec's marker.
    expect(traits).to.include.members(['HW_CPU_X86_SSE2', 'COMPUTE_ARCH_X86_64', 'COMPUTE_IMAGE_TYPE_QCOW2', 'CUSTOM_EC_DISK_OVERLAY', 'CUSTOM_EC_HOST'])
    expect(host.providers[1].traits).to.deep.equal(['HW_NUMA_ROOT'])
    const text = await ec(['host', 'show', 'numa-host'])
    expect(text.stdout).to.match(/^NUMA node numa-host_NUMA1 /m)
  })

  it('pins an instance to one NUMA node, or splits it over two with --numa-nodes 2', async () => {
    const numa = agents.get('numa-host')!
    const one = await create(['--vcpus', '1', '--memory', '1024', '--disk', '1', '--root-trait', '!CUSTOM_FLAT'])
    expect(one.host?.name).to.equal('numa-host')
    const held = await allocationsOf(cp.placementUrl, one.id)
    const host = parseJson<HostDetail>(await ec(['host', 'show', 'numa-host', '--json']))
    const nodeIds = host.providers.slice(1).map((p) => p.id)
    const node = Object.keys(held).find((id) => nodeIds.includes(id))!
    expect(held[node]).to.deep.equal({VCPU: 1, MEMORY_MB: 1024})
    expect(held[host.id]).to.deep.equal({DISK_GB: 1})
    expect(numa.output()).to.include(`pinning ${one.id} to NUMA node(s) ${nodeIds.indexOf(node)} (1 vCPU 1024 MiB)`)

    // Each node has 1 of its 2 vCPUs left at most: only a split over both fits 2 more.
    const split = await create(['--vcpus', '2', '--memory', '2048', '--disk', '1', '--numa-nodes', '2'])
    expect(split.host?.name).to.equal('numa-host') // a flat host cannot give two isolated groups
    const both = await allocationsOf(cp.placementUrl, split.id)
    expect(nodeIds.every((id) => both[id] !== undefined && both[id].VCPU === 1 && both[id].MEMORY_MB === 1024)).to.equal(true)
    expect(numa.output()).to.include(`pinning ${split.id} to NUMA node(s) 0,1 (1 vCPU 1024 MiB + 1 vCPU 1024 MiB)`)

    for (const id of [one.id, split.id]) expect((await ec(['instance', 'delete', id])).code).to.equal(0)
  })

  it('required and forbidden traits the agents reported', async () => {
    const flat = await create(['--flavor', 'tiny', '--trait', 'CUSTOM_FLAT', '--trait', 'HW_CPU_X86_SSE2'])
    expect(flat.host?.name).to.equal('flat-host')
    const notFlat = await create(['--flavor', 'tiny', '--forbid-trait', 'CUSTOM_FLAT'])
    expect(notFlat.host?.name).to.equal('numa-host')
    const none = await ec(['instance', 'create', '--flavor', 'tiny', '--image', 'base', '--forbid-trait', 'HW_CPU_X86_SSE2', '--no-wait'])
    expect(none.code, none.stderr).to.equal(7)
    for (const id of [flat.id, notFlat.id]) expect((await ec(['instance', 'delete', id])).code).to.equal(0)
  })

  it('--dry-run prints the query and the candidates, claims nothing, and exits 7 when none fits', async () => {
    const before = await providers(cp.placementUrl)
    const dry = await ec(['instance', 'create', '--dry-run', '--vcpus', '1', '--memory', '512', '--disk', '1', '--image', 'base', '--json'])
    expect(dry.code, dry.stderr).to.equal(0)
    const preview = parseJson<CandidatePreview>(dry)
    expect(preview.query).to.include('resources_NUMA0=VCPU%3A1%2CMEMORY_MB%3A512').and.include('resources_DISK=DISK_GB%3A1')
    expect([...new Set(preview.candidates.map((c) => c.hostName))].sort()).to.deep.equal(['flat-host', 'numa-host'])
    const text = await ec(['instance', 'create', '--dry-run', '--vcpus', '1', '--memory', '512', '--disk', '1', '--image', 'base'])
    expect(text.stdout).to.match(/^GET \/allocation_candidates\?resources_NUMA0=VCPU%3A1%2CMEMORY_MB%3A512&resources_DISK=DISK_GB%3A1&/m).and.match(/numa-host_NUMA[01]/)
    const tooBig = await ec(['instance', 'create', '--dry-run', '--vcpus', '1', '--memory', '100000', '--disk', '1', '--image', 'base'])
    expect(tooBig.code).to.equal(7)
    expect((await providers(cp.placementUrl)).map((p) => p.usages)).to.deep.equal(before.map((p) => p.usages))
    expect((await ec(['instance', 'list', '--json'])).stdout.trim()).to.equal('[]')
  })

  it("keeps an operator's trait across an agent restart and drops a config trait that was removed", async () => {
    const added = await ec(['host', 'trait', 'add', 'flat-host', 'CUSTOM_OPS_RACK7'])
    expect(added.code, added.stderr).to.equal(0)
    const refused = await ec(['host', 'trait', 'add', 'flat-host', 'HW_CPU_X86_AVX512F'])
    expect(refused.code).to.equal(2)
    expect(refused.stderr).to.match(/reported by the host's agent itself/)

    await agents.get('flat-host')!.stop('SIGTERM')
    await startHost('flat-host', flatCompute(['CUSTOM_OTHER']))
    const traits = parseJson<HostDetail>(await ec(['host', 'show', 'flat-host', '--json'])).providers[0].traits
    expect(traits).to.include.members(['CUSTOM_OPS_RACK7', 'CUSTOM_OTHER', 'HW_CPU_X86_SSE2'])
    expect(traits).to.not.include('CUSTOM_FLAT')
    expect(traits).to.not.include('COMPUTE_STATUS_DISABLED')
  })
})
