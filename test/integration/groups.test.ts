// Server groups against a real etcd and a real Placement, through the CLI:
// five hosts registered directly with Placement, with no agent: each test
// starts with their liveness keys put (create schedules only onto hosts whose
// agent runs; instances stay SCHEDULED), and takes them away before it
// deletes (`ec instance delete` of a host that is down releases and removes
// them itself). Concurrent creates run as separate `ec` processes.
import {expect} from 'chai'
import {randomUUID} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {EtcdTransport} from '../../plugins/etcd/src/transport.js'
import type {PlacementScheduler} from '../../plugins/placement/src/scheduler.js'
import type {AuditReport} from '../../src/commands/audit.js'
import type {GroupRecord} from '../../src/groups/model.js'
import type {GroupView} from '../../src/groups/view.js'
import type {InstanceRecord} from '../../src/instances/model.js'
import {InstanceStore} from '../../src/instances/store.js'
import {parseJson, runEc, type RunResult} from '../helpers/cli.js'
import {startControlPlane, type TestControlPlane} from '../helpers/control-plane.js'
import {etcdOf, flatInventory, placementOf, wipe} from '../helpers/direct-clients.js'
import {makeQcow2} from '../helpers/image-server.js'
import {markAlive, markDown} from '../helpers/liveness.js'
import {allocationsOf, providers} from '../helpers/placement.js'

const HOSTS = ['g-host-1', 'g-host-2', 'g-host-3', 'g-host-4', 'g-host-5']
const CONCURRENT = 20

describe('server groups (real etcd and Placement, concurrent CLI creates)', function () {
  this.timeout(900_000)
  let cp: TestControlPlane
  let transport: EtcdTransport
  let store: InstanceStore
  let scheduler: PlacementScheduler
  let imageDir: string
  const hosts: Array<{id: string; name: string}> = []

  const ec = (args: string[]): Promise<RunResult> => cp.ec(args)
  const agentsUp = () => Promise.all(hosts.map((host) => markAlive(transport, host.id, host.name)))
  const agentsGone = () => Promise.all(hosts.map((host) => markDown(transport, host.id)))

  before(async () => {
    imageDir = mkdtempSync(join(tmpdir(), 'ec-groups-images-'))
    cp = await startControlPlane(
      [
        'backends: {metadata: none}',
        'libvirt: {uri: "test:///default"}',
        'scheduling: {deleteTimeoutSeconds: 20}',
        // Twenty CLIs at once on a machine shared by others: a slow answer is not a dead service.
        'etcd: {timeoutMs: 30000}',
        'placement: {timeoutMs: 60000}',
        'flavors:',
        '  one: {vcpus: 1, memoryMb: 128, diskGb: 1}',
        'images:',
        `  base: {path: ${makeQcow2(imageDir)}}`,
      ].join('\n'),
    )
    transport = etcdOf(cp)
    store = new InstanceStore(transport)
    scheduler = placementOf(cp)
    // Room for all 20 on every host: only the group's policy can refuse one.
    for (const name of HOSTS) {
      const host = await scheduler.registerHost({
        id: randomUUID(),
        name,
        traits: [],
        inventory: flatInventory({VCPU: CONCURRENT, MEMORY_MB: 128 * CONCURRENT, DISK_GB: CONCURRENT}),
      })
      hosts.push({id: host.id, name: host.name})
    }
  })

  beforeEach(agentsUp)

  after(async () => {
    await transport?.close()
    await scheduler?.close()
    await cp?.stop()
    rmSync(imageDir, {recursive: true, force: true})
  })

  // Every test starts with no instance, no group and nothing allocated.
  afterEach(async () => {
    await agentsGone()
    const {records} = await store.list()
    if (records.length > 0) {
      const deleted = await ec(['instance', 'delete', ...records.map((r) => r.value.id)])
      if (deleted.code !== 0) throw new Error(`cleanup: ec instance delete failed (exit ${deleted.code}): ${deleted.stderr}`)
    }

    await wipe(transport, scheduler)
  })

  async function createGroup(name: string, ...flags: string[]): Promise<GroupRecord> {
    const result = await ec(['group', 'create', name, '--json', ...flags])
    expect(result.code, result.stdout + result.stderr).to.equal(0)
    return parseJson<GroupRecord>(result)
  }

  function createInto(group: string, count: number, prefix: string): Promise<RunResult[]> {
    return Promise.all(
      Array.from({length: count}, (_, i) =>
        // Many processes at once on a loaded machine: each gets a generous deadline.
        runEc(['instance', 'create', `${prefix}${i}`, '--flavor', 'one', '--image', 'base', '--group', group, '--no-wait', '--json'], {env: cp.env, cwd: cp.sandbox.dir, timeoutMs: 600_000}),
      ),
    )
  }

  /** Members per host name, as the instance records say and as the group key says; both must agree. */
  async function placement(group: string): Promise<Map<string, number>> {
    const {records} = await store.list()
    const byHost = new Map<string, number>()
    for (const {value} of records) {
      if (value.spec.group !== group) continue
      byHost.set(value.host!.name, (byHost.get(value.host!.name) ?? 0) + 1)
    }

    const shown = parseJson<GroupView>(await ec(['group', 'show', group, '--json']))
    const fromGroup = new Map<string, number>()
    for (const m of shown.members) fromGroup.set(m.host.name, (fromGroup.get(m.host.name) ?? 0) + 1)
    expect([...fromGroup].sort(), 'the group key agrees with the records').to.deep.equal([...byHost].sort())
    return byHost
  }

  /** Placement holds exactly what the records say: no claim of a refused create is left. */
  async function expectAllocationsMatchRecords(): Promise<void> {
    const {records} = await store.list()
    const used = (await providers(cp.placementUrl)).reduce((n, p) => n + (p.usages.VCPU ?? 0), 0)
    expect(used, 'VCPU allocated over all hosts').to.equal(records.reduce((n, r) => n + r.value.spec.vcpus, 0))
    for (const {value} of records) {
      const held = await allocationsOf(cp.placementUrl, value.id)
      expect(Object.keys(held), `${value.name}'s allocation`).to.deep.equal([value.host!.id])
    }
  }

  it(`hard anti-affinity, --max-per-host 1: ${CONCURRENT} concurrent creates over ${HOSTS.length} hosts, exactly ${HOSTS.length} succeed, one per host`, async () => {
    await createGroup('apart', '--policy', 'anti-affinity', '--max-per-host', '1')
    const results = await createInto('apart', CONCURRENT, 'a')
    const created = results.filter((r) => r.code === 0).map((r) => parseJson<InstanceRecord>(r))
    const refused = results.filter((r) => r.code !== 0)
    expect(created, results.map((r) => r.stderr || r.stdout).join('\n')).to.have.length(HOSTS.length)
    for (const r of refused) {
      expect(r.code, r.stdout + r.stderr).to.equal(7)
      const {error} = parseJson<{error: {message: string}}>(r)
      expect(error.message).to.match(/^no valid host for group "apart" \(anti-affinity, at most 1 per host, hard/)
    }

    const byHost = await placement('apart')
    expect([...byHost.keys()].sort()).to.deep.equal(HOSTS)
    expect([...byHost.values()]).to.deep.equal(HOSTS.map(() => 1))
    await expectAllocationsMatchRecords()
    expect((await store.list()).records.map((r) => r.value.state)).to.deep.equal(HOSTS.map(() => 'SCHEDULED'))
    // The refused left nothing: no record, no name.
    const names = (await transport.list('names/')).items.map((kv) => kv.key).sort()
    expect(names).to.deep.equal(created.map((r) => `names/${r.name}`).sort())
  })

  it('hard anti-affinity, --max-per-host 2: 12 concurrent creates fill the 5 hosts with two each and never put a third on one', async () => {
    await createGroup('twos', '--policy', 'anti-affinity', '--max-per-host', '2')
    const results = await createInto('twos', 12, 't')
    const created = results.filter((r) => r.code === 0)
    for (const r of results.filter((x) => x.code !== 0)) {
      expect(r.code, r.stdout + r.stderr).to.equal(7)
      expect(parseJson<{error: {message: string}}>(r).error.message).to.match(/^no valid host for group "twos" \(anti-affinity, at most 2 per host, hard/)
    }

    expect(created, results.map((r) => r.stderr || r.stdout).join('\n')).to.have.length(2 * HOSTS.length)
    const byHost = await placement('twos')
    expect([...byHost].sort()).to.deep.equal(HOSTS.map((h) => [h, 2]))
    await expectAllocationsMatchRecords()
  })

  it(`soft anti-affinity places all ${CONCURRENT}; the next member goes to a host with the fewest`, async () => {
    await createGroup('spread', '--policy', 'anti-affinity', '--soft')
    const results = await createInto('spread', CONCURRENT, 's')
    for (const r of results) expect(r.code, r.stdout + r.stderr).to.equal(0)
    const byHost = await placement('spread')
    expect([...byHost.values()].reduce((a, b) => a + b, 0)).to.equal(CONCURRENT)
    // pack alone would put all twenty on one host.
    expect(byHost.size, JSON.stringify([...byHost])).to.be.greaterThan(1)
    await expectAllocationsMatchRecords()
    // One more, alone: it prefers a host with the fewest members (every host has room).
    const fewest = Math.min(...HOSTS.map((h) => byHost.get(h) ?? 0))
    const next = await ec(['instance', 'create', 's-next', '--flavor', 'one', '--image', 'base', '--group', 'spread', '--no-wait', '--json'])
    expect(next.code, next.stderr).to.equal(0)
    const host = parseJson<InstanceRecord>(next).host!.name
    expect(byHost.get(host) ?? 0, `${host} in ${JSON.stringify([...byHost])}`).to.equal(fewest)
  })

  it('hard affinity: concurrent creates all land on one host (the first member decides); a full host refuses with exit 7', async () => {
    await createGroup('together', '--policy', 'affinity')
    const results = await createInto('together', 8, 'h')
    for (const r of results) expect(r.code, r.stdout + r.stderr).to.equal(0)
    const byHost = await placement('together')
    expect(byHost.size, JSON.stringify([...byHost])).to.equal(1)
    const [host] = [...byHost.keys()]

    // Fill the rest of that host outside the group; then the group has nowhere to go, though other hosts are empty.
    const filler = await ec(['instance', 'create', 'filler', '--vcpus', String(CONCURRENT - 8), '--memory', '128', '--disk', '1', '--image', 'base', '--in-tree', host, '--no-wait', '--json'])
    expect(filler.code, filler.stderr).to.equal(0)
    const refused = await ec(['instance', 'create', 'h-late', '--flavor', 'one', '--image', 'base', '--group', 'together', '--no-wait'])
    expect(refused.code, refused.stderr).to.equal(7)
    expect(refused.stderr).to.match(/^Error: no valid host for group "together" \(affinity, hard, 8 members\)/)
    expect(await store.find('h-late')).to.equal(undefined)
    await expectAllocationsMatchRecords()
  })

  it('soft affinity prefers the members\' host but takes another when it is full', async () => {
    await createGroup('near', '--policy', 'affinity', '--soft')
    const first = parseJson<InstanceRecord>(await ec(['instance', 'create', 'n0', '--flavor', 'one', '--image', 'base', '--group', 'near', '--policy', 'spread', '--no-wait', '--json']))
    const second = parseJson<InstanceRecord>(await ec(['instance', 'create', 'n1', '--flavor', 'one', '--image', 'base', '--group', 'near', '--policy', 'spread', '--no-wait', '--json']))
    expect(second.host?.name, 'spread alone would pick an emptier host').to.equal(first.host?.name)
    const filler = await ec(['instance', 'create', 'filler', '--vcpus', String(CONCURRENT - 2), '--memory', '128', '--disk', '1', '--image', 'base', '--in-tree', first.host!.name, '--no-wait'])
    expect(filler.code, filler.stderr).to.equal(0)
    const third = await ec(['instance', 'create', 'n2', '--flavor', 'one', '--image', 'base', '--group', 'near', '--no-wait', '--json'])
    expect(third.code, third.stderr).to.equal(0)
    expect(parseJson<InstanceRecord>(third).host?.name).to.not.equal(first.host?.name)
  })

  it('a group with members cannot be deleted (exit 5); once they are deleted it can; members leave on delete', async () => {
    await createGroup('keep', '--policy', 'anti-affinity')
    const created = parseJson<InstanceRecord>(await ec(['instance', 'create', 'k0', '--flavor', 'one', '--image', 'base', '--group', 'keep', '--no-wait', '--json']))
    const refused = await ec(['group', 'delete', 'keep'])
    expect(refused.code).to.equal(5)
    expect(refused.stderr.trim()).to.equal('Error: group "keep" still has 1 member: k0 (SCHEDULED); delete them first')
    expect(refused.stderr.trim().split('\n')).to.have.length(1)

    await agentsGone()
    expect((await ec(['instance', 'delete', 'k0'])).code).to.equal(0)
    const shown = parseJson<GroupView>(await ec(['group', 'show', 'keep', '--json']))
    expect(shown.members).to.deep.equal([])
    expect(shown.stale, 'the delete took it out of the group').to.deep.equal([])
    const raw = JSON.parse((await transport.get('groups/keep'))!.value) as GroupRecord
    expect(raw.members).to.not.have.property(created.id)

    const deleted = await ec(['group', 'delete', 'keep', '--json'])
    expect(deleted.code, deleted.stderr).to.equal(0)
    expect(parseJson<{outcome: string}>(deleted).outcome).to.equal('deleted')
    expect((await ec(['group', 'delete', 'keep'])).code, 'absent is success').to.equal(0)
    expect((await ec(['group', 'show', 'keep'])).code).to.equal(6)
  })

  it('a member whose teardown died before leaving the group counts for nothing; ec audit reports and repairs it', async () => {
    await createGroup('solo', '--policy', 'anti-affinity')
    const created = await createInto('solo', HOSTS.length, 'o')
    for (const r of created) expect(r.code, r.stderr).to.equal(0)
    // Remove one record behind ec's back (as a teardown that crashed before leaving the group would leave it).
    const victim = parseJson<InstanceRecord>(created[0])
    await scheduler.release(victim.id)
    await transport.commit([], [
      {op: 'delete', key: `instances/${victim.id}`},
      {op: 'delete', key: `names/${victim.name}`},
      {op: 'delete', key: `hosts/${victim.host!.id}/assigned/${victim.id}`},
    ])

    // The others sit SCHEDULED on hosts without an agent: not stuck for this test.
    await agentsGone()
    const audit = await ec(['audit', '--json', '--stuck-after', '3600'])
    expect(audit.code).to.equal(12)
    const report = parseJson<AuditReport>(audit)
    expect(report.findings.map((f) => [f.kind, f.id])).to.deep.equal([['stale-group-member', victim.id]])

    // Its host is free for the group again: the stale member does not count.
    await agentsUp()
    const again = await ec(['instance', 'create', 'o-again', '--flavor', 'one', '--image', 'base', '--group', 'solo', '--no-wait', '--json'])
    expect(again.code, again.stderr).to.equal(0)
    expect(parseJson<InstanceRecord>(again).host?.name).to.equal(victim.host!.name)
    // …and that join dropped it.
    await agentsGone()
    const clean = await ec(['audit', '--json', '--stuck-after', '3600'])
    expect(clean.code, clean.stdout).to.equal(0)
  })

  it('ec audit --repair removes a stale member', async () => {
    await createGroup('fix', '--policy', 'affinity', '--soft')
    const created = parseJson<InstanceRecord>(await ec(['instance', 'create', 'f0', '--flavor', 'one', '--image', 'base', '--group', 'fix', '--no-wait', '--json']))
    await scheduler.release(created.id)
    await transport.commit([], [
      {op: 'delete', key: `instances/${created.id}`},
      {op: 'delete', key: `names/${created.name}`},
      {op: 'delete', key: `hosts/${created.host!.id}/assigned/${created.id}`},
    ])
    await agentsGone()
    const repaired = await ec(['audit', '--repair', '--json', '--stuck-after', '3600'])
    expect(repaired.code, repaired.stdout).to.equal(0)
    expect(parseJson<AuditReport>(repaired).repaired.map((r) => r.kind)).to.deep.equal(['stale-group-member'])
    expect(parseJson<GroupView>(await ec(['group', 'show', 'fix', '--json'])).stale).to.deep.equal([])
  })

  it('never schedules onto a host whose agent is down while another has room; with every agent down, takes one anyway', async () => {
    await Promise.all(hosts.slice(1).map((host) => markDown(transport, host.id)))
    // --dry-run says which agents run and lists those hosts first, as create tries them.
    const dry = await ec(['instance', 'create', '--dry-run', '--flavor', 'one', '--image', 'base', '--json'])
    expect(dry.code, dry.stderr).to.equal(0)
    const candidates = parseJson<{candidates: Array<{hostName: string; agentUp: boolean}>}>(dry).candidates
    expect(candidates.map((c) => [c.hostName, c.agentUp])).to.deep.equal([
      [hosts[0].name, true],
      ...candidates.slice(1).map((c) => [c.hostName, false]),
    ])
    expect(candidates.map((c) => c.hostName).sort()).to.deep.equal(hosts.map((h) => h.name).sort())
    const table = await ec(['instance', 'create', '--dry-run', '--flavor', 'one', '--image', 'base'])
    expect(table.stdout).to.match(new RegExp(`^\\s*${hosts[0].name}\\s+up\\s`, 'm')).and.match(/^\s*g-host-\d\s+down\s/m)
    for (let i = 0; i < 3; i++) {
      const one = await ec(['instance', 'create', `up${i}`, '--flavor', 'one', '--image', 'base', '--no-wait', '--json'])
      expect(one.code, one.stderr).to.equal(0)
      expect(parseJson<InstanceRecord>(one).host?.name).to.equal(hosts[0].name)
    }

    // The assignment waits in etcd for the agent's return, as it always did.
    await markDown(transport, hosts[0].id)
    const anyway = await ec(['instance', 'create', 'waits', '--flavor', 'one', '--image', 'base', '--no-wait', '--json'])
    expect(anyway.code, anyway.stderr).to.equal(0)
    expect(parseJson<InstanceRecord>(anyway)).to.deep.include({state: 'SCHEDULED'})
    const held = await Promise.all(hosts.map(async (host) => Object.keys(await scheduler.hostAllocations(host.id)).length))
    expect(held.reduce((a, b) => a + b)).to.equal(4)
  })

  it('bad input: one-line errors and their exit codes, nothing written', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['group', 'create', 'Bad_Name', '--policy', 'affinity'], 2, /group name "Bad_Name" is not valid/],
      [['group', 'create', 'x', '--policy', 'affinity', '--max-per-host', '2'], 2, /--max-per-host applies to --policy anti-affinity only/],
      [['group', 'create', 'x', '--policy', 'anti-affinity', '--max-per-host', '0'], 2, /--max-per-host must be a whole number from 1/],
      [['group', 'create', 'x', '--policy', 'sideways'], 2, /expected --policy=sideways to be one of: affinity, anti-affinity/i],
      [['group', 'create', 'x'], 2, /policy/],
      [['instance', 'create', 'i', '--flavor', 'one', '--image', 'base', '--group', 'nosuch'], 6, /no group named "nosuch"/],
    ]
    for (const [args, code, message] of cases) {
      const result = await ec(args)
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).to.equal(code)
      expect(result.stderr.trim().split('\n'), result.stderr).to.have.length(1)
      expect(result.stderr).to.match(message)
    }

    await createGroup('dup', '--policy', 'affinity')
    const dup = await ec(['group', 'create', 'dup', '--policy', 'anti-affinity'])
    expect(dup.code).to.equal(5)
    expect(dup.stderr).to.match(/a group named "dup" already exists/)
    expect((await transport.list('')).items.map((kv) => kv.key).filter((key) => !key.endsWith('/alive'))).to.deep.equal(['groups/dup'])
  })

  it('group list and show; group names complete', async () => {
    await createGroup('web', '--policy', 'anti-affinity', '--max-per-host', '2')
    await createGroup('db', '--policy', 'affinity', '--soft')
    expect((await ec(['instance', 'create', 'w0', '--flavor', 'one', '--image', 'base', '--group', 'web', '--no-wait'])).code).to.equal(0)
    const list = parseJson<GroupView[]>(await ec(['group', 'list', '--json']))
    expect(list.map((g) => [g.name, g.policy, g.soft, g.maxPerHost ?? null, g.members.length])).to.deep.equal([
      ['db', 'affinity', true, null, 0],
      ['web', 'anti-affinity', false, 2, 1],
    ])
    const table = await ec(['group', 'list'])
    expect(table.stdout).to.match(/^\s*name\s+policy\s+strength\s+max_per_host\s+members\s+hosts/im).and.match(/web\s+anti-affinity\s+hard\s+2\s+1\s+g-host-\d/)
    expect((await ec(['group', 'list', '-q'])).stdout.trim().split('\n')).to.deep.equal(['db', 'web'])
    const show = await ec(['group', 'show', 'web'])
    expect(show.stdout).to.match(/policy: anti-affinity, at most 2 per host, hard/).and.match(/w0\s+\S+\s+SCHEDULED\s+g-host-\d/)
    expect((await ec(['instance', 'show', 'w0'])).stdout).to.match(/group\s+web/)
    const complete = await ec(['complete', 'group'])
    expect(complete.stdout.trim().split('\n')).to.deep.equal(['db', 'web'])
  })
})
