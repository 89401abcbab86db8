// Many hosts, simulated on one machine with loopback addresses: three etcd
// members (127.0.0.1, .2, .3) and Placement on MariaDB with mutual TLS, via
// `ec up --etcd-members 3 --database mariadb`; three `ec compute start`
// agents on libvirt's test driver, each with its own state directory, name,
// address and credentials bundle; the CLI with a bundle of its own. Checked
// through etcd's and Placement's own APIs and the guests the hosts report
// (test/faults/harness.ts), and through `ec audit`.
import {expect} from 'chai'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {keys} from '../../src/instances/keys.js'
import {CertificateAuthority} from '../../src/pki/authority.js'
import {type CreateOutcome, RESYNC_SECONDS} from '../faults/harness.js'
import {parseJson} from '../helpers/cli.js'
import {ADDRESSES, etcdReads, httpsGet, TestCluster} from '../helpers/cluster.js'
import {etcdKeys} from '../helpers/etcd.js'
import {providers} from '../helpers/placement.js'

const VCPUS_PER_HOST = 20
/** Exit codes of the README's table a create may end with; 1 is "a bug". */
const DOCUMENTED = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
/** A build's time on the test driver plus two resyncs, with room for a loaded machine. */
const SETTLE_MS = 120_000 + 2 * RESYNC_SECONDS * 1000

interface HostView {
  id: string
  name: string
  schedulable: boolean
  traits: string[]
  usage: Record<string, number>
  alive: boolean
  agent?: {address?: string; version?: string}
  disabled?: {reason?: string}
}

describe('many hosts: three etcd members, Placement on MariaDB, mutual TLS, three agents', function () {
  // Minutes on a quiet machine; generous, because a loaded one runs the CLI processes slowly.
  this.timeout(900_000)
  let cluster: TestCluster | undefined

  before(async function () {
    this.timeout(900_000)
    cluster = await TestCluster.start({vcpusPerHost: VCPUS_PER_HOST})
  })

  // One failure stays one failure: whatever a test left is deleted before the next.
  afterEach(async function () {
    this.timeout(400_000)
    if (this.currentTest?.state !== 'failed') return
    await cluster?.restartStopped().catch(() => {})
    await cluster?.faults.deleteAll().catch(() => {})
  })

  after(async function () {
    this.timeout(300_000)
    await cluster?.stop()
  })

  const hosts = async (): Promise<HostView[]> => {
    const list = await cluster!.cli.ec(['host', 'list', '--json'])
    expect(list.code, list.stderr).to.equal(0)
    return parseJson<HostView[]>(list)
  }

  const hostProviders = async () => (await providers(cluster!.placementUrl)).filter((p) => p.traits.includes('CUSTOM_EC_HOST'))

  it('runs three members and one Placement over MariaDB; every host joined with its address and version', async () => {
    const {code, services} = await cluster!.status()
    expect(code).to.equal(0)
    expect(services.map((s) => s.name)).to.deep.equal(['mariadb', ...ADDRESSES.map((a) => `etcd@${a}`), 'placement'])
    expect(services.every((s) => s.healthy && s.state === 'running')).to.equal(true)
    expect(cluster!.members.map((m) => m.endpoint).every((e) => e.startsWith('https://'))).to.equal(true)
    // Every client is given every member: the CLI's bundle names all three.
    const bundle = JSON.parse(readFileSync(cluster!.cli.bundle, 'utf8')) as {etcd: {endpoints: string[]}}
    expect(bundle.etcd.endpoints).to.deep.equal(cluster!.members.map((m) => m.endpoint))
    const listed = await hosts()
    expect(listed.map((h) => [h.name, h.alive, h.agent?.address, h.schedulable]).sort()).to.deep.equal(
      ADDRESSES.map((address, i) => [`host-${i + 1}`, true, address, true]),
    )
    expect(listed.every((h) => typeof h.agent?.version === 'string' && h.agent.version.length > 0)).to.equal(true)
  })

  it('60 concurrent creates fill the three hosts exactly: none lost, none over capacity, no "database is locked", no 5xx', async () => {
    const c = cluster!
    const logBefore = c.placementLog().length
    const creates = await c.createAtOnce('a', 60)
    expect(creates.filter((o) => o.code !== 0).map(outcomeLine)).to.deep.equal([])
    await c.faults.settle(SETTLE_MS)
    expect(await c.faults.violations()).to.deep.equal({overCommitted: [], guestsWithoutAllocation: [], stuck: [], orphans: [], badErrors: []})
    expect(await c.faults.outcome()).to.deep.equal({active: 60, errors: {}})
    // 60 guests, 20 VCPU a host: spread over all three, each exactly full.
    const usage = Object.fromEntries((await hostProviders()).map((p) => [p.name, p.usages.VCPU]))
    expect(usage).to.deep.equal({'host-1': 20, 'host-2': 20, 'host-3': 20})
    const audit = await c.faults.audit()
    expect(audit.code, JSON.stringify(audit.report.findings)).to.equal(0)

    // Placement logs every request with its status: it served the burst, and never failed one.
    const log = c.placementLog().slice(logBefore)
    const served = log.match(/"PUT \/allocations\/\S+" status: 204/g) ?? []
    expect(served.length, 'claims in Placement\'s log').to.be.at.least(60)
    expect(log.match(/.*status: 5\d\d.*/g) ?? []).to.deep.equal([])
    expect(log).to.not.match(/database is locked|Traceback/)
    expect(creates.map((o) => o.message).join('\n')).to.not.match(/database is locked|\b5\d\d\b/)
    await c.faults.deleteAll()
  })

  it('kill -9 of the etcd leader mid-burst: every create ends ACTIVE or fails with a documented code, leaving nothing', async function () {
    this.timeout(1_200_000)
    const c = cluster!
    const leader = await c.leader()
    // Real `ec instance create` processes: their exit codes are what this checks.
    const burst = c.faults.burst('b', 12, {concurrency: 6})
    // Mid-burst: once some creates have reached etcd.
    const deadline = Date.now() + 120_000
    while ((await c.faults.store.list()).records.length < 3 && Date.now() < deadline) await sleep(100)
    await c.killMember(leader)
    const {creates} = await burst
    await c.faults.settle(SETTLE_MS)

    const undocumented = creates.filter((o) => o.code !== 0 && !DOCUMENTED.includes(o.code))
    expect(undocumented.map(outcomeLine), 'undocumented exit codes').to.deep.equal([])
    const {records} = await c.faults.store.list()
    const byName = new Map(records.map((r) => [r.value.name, r.value]))
    const all = await etcdKeys(c.faults.cp.etcdEndpoint)
    for (const o of creates) {
      if (o.code === 0) expect(byName.get(o.name)?.state, `${o.name} (created)`).to.equal('ACTIVE')
      else {
        expect(byName.has(o.name), `${outcomeLine(o)}: its record is left`).to.equal(false)
        expect(all[keys.name(o.name)], `${outcomeLine(o)}: its name is left`).to.equal(undefined)
      }
    }

    expect(creates.filter((o) => o.code === 0).length, 'creates that went through the loss of a member').to.be.greaterThan(0)
    // Orphans include allocations without a record: a failed create's claim was released.
    expect(await c.faults.violations()).to.deep.equal({overCommitted: [], guestsWithoutAllocation: [], stuck: [], orphans: [], badErrors: []})
    const audit = await c.faults.audit()
    expect(audit.code, JSON.stringify(audit.report.findings)).to.equal(0)

    // Two members of three keep serving; ec up starts the killed one again and it rejoins.
    const down = await c.status()
    expect(down.code).to.equal(4)
    expect(down.services.filter((s) => !s.healthy).map((s) => s.name)).to.deep.equal([leader.name])
    await c.restartStopped()
    await c.faults.deleteAll()
  })

  it('refuses a client without a certificate, with another CA\'s, or a revoked one, at every etcd member and at Placement', async () => {
    const c = cluster!
    const admin = JSON.parse(readFileSync(c.adminBundle, 'utf8')) as {ca: string}
    const other = new CertificateAuthority(join(c.controller.dir, 'other-ca'))
    await other.ensure()
    const foreign = await other.issueClient('cli')
    const foreignTls = {cert: readFileSync(foreign.cert), key: readFileSync(foreign.key)}
    const issued = join(c.controller.dir, 'leaver.credentials.json')
    const made = await c.controller.ec(['cluster', 'credentials', 'leaver', '--out', issued])
    expect(made.code, made.stderr).to.equal(0)
    const leaver = JSON.parse(readFileSync(issued, 'utf8')) as {ca: string; cert: string; key: string}
    const resourceProviders = `${c.placementUrl}/resource_providers`

    // The same checks let the holder of a valid bundle in: they can fail.
    for (const {endpoint} of c.members) expect(await etcdReads(endpoint, {credentials: issued}), `${endpoint}: valid bundle`).to.equal(true)
    expect((await httpsGet(resourceProviders, leaver)).status, 'Placement: valid bundle').to.equal(200)

    for (const {endpoint} of c.members) {
      expect(await etcdReads(endpoint.replace('https:', 'http:'), undefined), `${endpoint}: plain HTTP`).to.equal(false)
      expect(await etcdReads(endpoint, {ca: join(c.controller.stateDir, 'pki', 'ca.crt'), serverName: 'etcd.ec'}), `${endpoint}: no certificate`).to.equal(false)
      expect(await etcdReads(endpoint, {ca: join(c.controller.stateDir, 'pki', 'ca.crt'), serverName: 'etcd.ec', ...foreign}), `${endpoint}: another CA`).to.equal(false)
    }

    expect((await httpsGet(resourceProviders, {ca: admin.ca})).status, 'Placement: no certificate').to.equal(undefined)
    expect((await httpsGet(resourceProviders, {ca: admin.ca, ...foreignTls})).status, 'Placement: another CA').to.equal(undefined)

    const revoked = await c.controller.ec(['cluster', 'revoke', 'leaver'])
    expect(revoked.code, revoked.stderr).to.equal(0)
    for (const {endpoint} of c.members) expect(await etcdReads(endpoint, {credentials: issued}), `${endpoint}: revoked`).to.equal(false)
    expect((await httpsGet(resourceProviders, leaver)).status, 'Placement: revoked').to.equal(undefined)
    const refused = await c.cli.ec(['host', 'list', '--credentials', issued])
    expect(refused.code, refused.stderr).to.equal(3)
    expect(refused.stderr.trim().split('\n')).to.have.length(1)
    // Everyone else still gets in.
    expect((await c.cli.ec(['host', 'list'])).code).to.equal(0)
  })

  it('host disable / enable / remove: out of scheduling with its reason, back in, removed without a trace', async () => {
    const c = cluster!
    const disabled = await c.cli.ec(['host', 'disable', 'host-3', '--reason', 'new disks'])
    expect(disabled.code, disabled.stderr).to.equal(0)
    const host3 = (await hosts()).find((h) => h.name === 'host-3')!
    expect(host3).to.deep.include({schedulable: false, alive: true})
    expect(host3.disabled?.reason).to.equal('new disks')
    const table = await c.cli.ec(['host', 'list'])
    expect(table.stdout.split('\n').find((line) => line.startsWith('host-3'))).to.contain('new disks')

    // Spread would prefer the empty host-3 — were it schedulable.
    const {creates} = await c.faults.burst('d', 4, {concurrency: 4})
    expect(creates.filter((o) => o.code !== 0).map(outcomeLine)).to.deep.equal([])
    const placed = (await c.faults.store.list()).records.map((r) => r.value.host?.name)
    expect(placed).to.have.length(4)
    expect(placed).to.not.include('host-3')
    const onDisabled = await c.cli.ec(['instance', 'create', 'd-pinned', '--flavor', 'one', '--image', 'base', '--in-tree', 'host-3', '--no-wait'])
    expect(onDisabled.code, 'a disabled host takes nothing').to.equal(7)

    const enabled = await c.cli.ec(['host', 'enable', 'host-3'])
    expect(enabled.code, enabled.stderr).to.equal(0)
    const back = (await hosts()).find((h) => h.name === 'host-3')!
    expect(back.schedulable).to.equal(true)
    expect(back.disabled).to.equal(undefined)
    const pinned = await c.cli.ec(['instance', 'create', 'd-pinned', '--flavor', 'one', '--image', 'base', '--in-tree', 'host-3', '--wait', '--json'])
    expect(pinned.code, pinned.stderr).to.equal(0)
    expect(parseJson<{state: string; host: {name: string}}>(pinned)).to.deep.include({state: 'ACTIVE', host: {id: back.id, name: 'host-3'}})

    // Remove: refused while the agent runs, then while it holds an instance.
    const running = await c.cli.ec(['host', 'remove', 'host-3'])
    expect(running.code, running.stderr).to.equal(5)
    expect(running.stderr).to.match(/^Error: host host-3 has a running agent/)
    expect(await c.agents.get('host-3')!.stop('SIGTERM')).to.equal(0)
    await waitFor(async () => !(await hosts()).find((h) => h.name === 'host-3')!.alive, 60_000, 'host-3 to be seen down')
    const holding = await c.cli.ec(['host', 'remove', 'host-3'])
    expect(holding.code, holding.stderr).to.equal(5)
    expect(holding.stderr).to.match(/^Error: host host-3 still holds 1 instance/)
    // Its agent is down: the CLI releases the allocation and removes the keys itself.
    const deleted = await c.cli.ec(['instance', 'delete', 'd-pinned'])
    expect(deleted.code, deleted.stderr).to.equal(0)
    const removed = await c.cli.ec(['host', 'remove', 'host-3', '--json'])
    expect(removed.code, removed.stderr).to.equal(0)
    c.agents.delete('host-3')

    expect((await hostProviders()).map((p) => p.name).sort()).to.deep.equal(['host-1', 'host-2'])
    expect((await providers(c.placementUrl)).map((p) => p.uuid)).to.not.include(back.id)
    const left = Object.keys(await etcdKeys(c.faults.cp.etcdEndpoint)).filter((key) => key.startsWith(keys.host(back.id)) || key.includes(back.id))
    expect(left).to.deep.equal([])
    expect((await hosts()).map((h) => h.name).sort()).to.deep.equal(['host-1', 'host-2'])
    await c.faults.deleteAll()
  })
})

function outcomeLine(outcome: CreateOutcome): string {
  return `${outcome.name}: exit ${outcome.code}: ${outcome.message}`
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(500)
  }
}
