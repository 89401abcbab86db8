// `ec audit` against a real etcd and a real Placement: each kind of
// inconsistency is made for real (allocations PUT through Placement by the
// scheduler backend, keys written straight into etcd, a host's guest report
// written as its agent would), then `ec audit --json` must report exactly it
// with exit 12, `--repair` must fix it, and a second audit must exit 0.
// The last test runs a real agent on libvirt's test:///default driver.
import {expect} from 'chai'
import {randomUUID} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import type {EtcdTransport} from '../../plugins/etcd/src/transport.js'
import type {PlacementScheduler} from '../../plugins/placement/src/scheduler.js'
import type {AuditReport} from '../../src/commands/audit.js'
import {keys} from '../../src/instances/keys.js'
import type {GuestInventory, InstanceRecord} from '../../src/instances/model.js'
import type {TxnOp} from '@ec/plugin-api'
import {startAgent, type RunningAgent} from '../helpers/agent.js'
import {parseJson} from '../helpers/cli.js'
import {startControlPlane, type TestControlPlane} from '../helpers/control-plane.js'
import {etcdOf, flatInventory, placementOf, wipe} from '../helpers/direct-clients.js'
import {etcdKeys} from '../helpers/etcd.js'
import {makeQcow2} from '../helpers/image-server.js'
import {allocationsOf} from '../helpers/placement.js'

const SMALL = {VCPU: 1, MEMORY_MB: 128, DISK_GB: 1}

describe('ec audit (real etcd and Placement)', function () {
  this.timeout(120_000)
  let cp: TestControlPlane
  let transport: EtcdTransport
  let scheduler: PlacementScheduler
  let imageDir: string
  /** Two hosts with no agent (never alive unless a test says so), told apart by a trait. */
  const hostA = {id: randomUUID(), name: 'audit-a', trait: 'CUSTOM_AUDIT_A'}
  const hostB = {id: randomUUID(), name: 'audit-b', trait: 'CUSTOM_AUDIT_B'}

  before(async () => {
    imageDir = mkdtempSync(join(tmpdir(), 'ec-audit-images-'))
    cp = await startControlPlane(
      [
        'backends: {metadata: none}',
        'libvirt: {uri: "test:///default"}',
        'compute:',
        '  leaseTtlSeconds: 3',
        '  shutdownGraceSeconds: 2',
        '  resyncSeconds: 3',
        '  inventory: {VCPU: 8, MEMORY_MB: 4096, DISK_GB: 50}',
        '  reserved: {MEMORY_MB: 0}',
        '  allocationRatio: {VCPU: 1, MEMORY_MB: 1, DISK_GB: 1}',
        'scheduling: {deleteTimeoutSeconds: 20, waitTimeoutSeconds: 60}',
        'flavors:',
        '  one: {vcpus: 1, memoryMb: 128, diskGb: 1}',
        'images:',
        `  base: {path: ${makeQcow2(imageDir)}}`,
      ].join('\n'),
    )
    transport = etcdOf(cp)
    scheduler = placementOf(cp)
    for (const host of [hostA, hostB]) {
      await scheduler.registerHost({
        id: host.id,
        name: host.name,
        traits: [host.trait],
        inventory: flatInventory({VCPU: 2, MEMORY_MB: 4096, DISK_GB: 100}),
      })
    }
  })

  after(async () => {
    await transport?.close()
    await scheduler?.close()
    await cp?.stop()
    rmSync(imageDir, {recursive: true, force: true})
  })

  // Every test starts from an empty etcd prefix and no allocation on any host.
  afterEach(async () => {
    await wipe(transport, scheduler)
  })

  async function audit(...flags: string[]): Promise<{code: number; report: AuditReport}> {
    const result = await cp.ec(['audit', '--json', ...flags])
    return {code: result.code, report: parseJson<AuditReport>(result)}
  }

  function findings(report: AuditReport, list = report.findings): string[][] {
    return list.map((f) => [f.kind, f.id ?? f.host ?? '']).sort()
  }

  /** Claim resources on one host for a consumer: a real PUT /allocations through Placement. */
  async function claimOn(host: typeof hostA, consumer: string, resources: Record<string, number> = SMALL): Promise<void> {
    const claim = await scheduler.claim(consumer, {resources, requiredTraits: [host.trait], forbiddenTraits: [], memberOf: []})
    expect(claim.hostId).to.equal(host.id)
  }

  function record(state: InstanceRecord['state'], host?: typeof hostA, extra: Partial<InstanceRecord> = {}): InstanceRecord {
    const id = randomUUID()
    const at = new Date().toISOString()
    return {
      id,
      name: `audit-${id.slice(0, 8)}`,
      state,
      spec: {
        vcpus: 1,
        memoryMb: 128,
        diskGb: 1,
        resources: {...SMALL},
        requiredTraits: [],
        forbiddenTraits: [],
        memberOf: [],
        image: {ref: 'base'},
        publicKeys: [],
        meta: {},
      },
      ...(host ? {host: {id: host.id, name: host.name}, allocations: {...SMALL}} : {}),
      steps: {},
      buildAttempts: 0,
      createdAt: at,
      updatedAt: at,
      ...extra,
    }
  }

  /** Write a record, its name and (with a host) its assignment straight into etcd, as create does. */
  async function writeRecord(r: InstanceRecord): Promise<void> {
    const ops: TxnOp[] = [
      {op: 'put', key: keys.instance(r.id), value: JSON.stringify(r)},
      {op: 'put', key: keys.name(r.name), value: r.id},
    ]
    if (r.host) ops.push({op: 'put', key: keys.assignment(r.host.id, r.id), value: JSON.stringify({id: r.id, op: 'build', at: r.createdAt})})
    expect((await transport.commit([], ops)).ok).to.equal(true)
  }

  async function put(key: string, value: string): Promise<void> {
    expect((await transport.commit([], [{op: 'put', key, value}])).ok).to.equal(true)
  }

  /** Report exactly `expected`, repair to consistency, then audit clean. */
  async function expectRepaired(expected: string[][]): Promise<AuditReport> {
    const found = await audit()
    expect(findings(found.report), JSON.stringify(found.report.findings)).to.deep.equal(expected.sort())
    expect(found.code).to.equal(12)
    expect(found.report.consistent).to.equal(false)
    const repaired = await audit('--repair')
    expect(repaired.report.repaired.length, JSON.stringify(repaired.report)).to.be.greaterThan(0)
    expect(repaired.report.remaining, JSON.stringify(repaired.report)).to.deep.equal([])
    expect(repaired.code).to.equal(0)
    const again = await audit()
    expect(again.report.findings).to.deep.equal([])
    expect(again.code).to.equal(0)
    return repaired.report
  }

  it('finds a clean system consistent (exit 0), with what it checked', async () => {
    const r = record('ACTIVE', hostA)
    await claimOn(hostA, r.id)
    await writeRecord(r)
    const {code, report} = await audit()
    expect(report.findings).to.deep.equal([])
    expect(report.consistent).to.equal(true)
    expect(report.checked).to.include({instances: 1, hosts: 2, allocations: 1, names: 1, assignments: 1})
    expect(code).to.equal(0)
    const human = await cp.ec(['audit'])
    expect(human.stdout.trim()).to.equal('consistent: 1 instances, 2 hosts, 1 allocations checked')
  })

  it('allocation without record: reported, released by --repair', async () => {
    const consumer = randomUUID()
    await claimOn(hostA, consumer)
    const human = await cp.ec(['audit'])
    expect(human.code).to.equal(12)
    expect(human.stdout).to.match(/allocation-without-record/).and.match(/can be fixed with --repair/)
    const report = await expectRepaired([['allocation-without-record', consumer]])
    expect(report.repaired.map((r) => r.kind)).to.deep.equal(['allocation-without-record'])
    expect(await allocationsOf(cp.placementUrl, consumer)).to.deep.equal({})
  })

  it('record without allocation: reported, failed to ERROR by --repair', async () => {
    const r = record('ACTIVE', hostA)
    await writeRecord(r)
    await expectRepaired([['record-without-allocation', r.id]])
    const stored = JSON.parse((await transport.get(keys.instance(r.id)))!.value) as InstanceRecord
    expect(stored.state).to.equal('ERROR')
    expect(stored.error?.reason).to.match(/held no allocation/)
  })

  it('ERROR record holding allocations: released by --repair, the record kept', async () => {
    const r = record('ERROR', hostA, {error: {reason: 'test', at: new Date().toISOString()}})
    await claimOn(hostA, r.id)
    await writeRecord(r)
    await expectRepaired([['error-holds-allocation', r.id]])
    expect(await allocationsOf(cp.placementUrl, r.id)).to.deep.equal({})
    expect(await transport.get(keys.instance(r.id))).to.not.equal(undefined)
  })

  it('stale PENDING record: deleted with its name and claim by --repair; a fresh one is left alone', async () => {
    const stale = record('PENDING', undefined, {scheduling: {by: 'gone:1', deadline: new Date(Date.now() - 1000).toISOString()}})
    const fresh = record('PENDING', undefined, {scheduling: {by: 'busy:2', deadline: new Date(Date.now() + 600_000).toISOString()}})
    await claimOn(hostA, stale.id)
    await claimOn(hostB, fresh.id)
    await writeRecord(stale)
    await writeRecord(fresh)
    await expectRepaired([['stale-pending', stale.id]])
    const left = Object.keys(await etcdKeys(cp.etcdEndpoint))
    expect(left.filter((k) => k.includes(stale.id) || k === keys.name(stale.name))).to.deep.equal([])
    expect(await allocationsOf(cp.placementUrl, stale.id)).to.deep.equal({})
    expect(left).to.include.members([keys.instance(fresh.id), keys.name(fresh.name)])
    expect(Object.keys(await allocationsOf(cp.placementUrl, fresh.id))).to.deep.equal([hostB.id])
  })

  it('orphan name keys (no record; a record of another name) and an orphan assignment: deleted by --repair', async () => {
    const r = record('ACTIVE', hostA)
    await claimOn(hostA, r.id)
    await writeRecord(r)
    const nobody = randomUUID()
    await put(keys.name('ghost'), nobody)
    await put(keys.name('alias'), r.id)
    await put(keys.assignment(hostB.id, nobody), JSON.stringify({id: nobody, op: 'build', at: new Date().toISOString()}))
    await expectRepaired([
      ['orphan-name', nobody],
      ['orphan-name', r.id],
      ['orphan-assignment', nobody],
    ])
    const left = Object.keys(await etcdKeys(cp.etcdEndpoint))
    expect(left.sort()).to.deep.equal([keys.assignment(hostA.id, r.id), keys.instance(r.id), keys.name(r.name)].sort())
  })

  it('stuck on a dead host: a BUILDING record fails to ERROR and is released, a DELETING one is finished; recent ones are not stuck', async () => {
    const old = new Date(Date.now() - 300_000).toISOString()
    const building = record('BUILDING', hostA, {updatedAt: old})
    const deleting = record('DELETING', hostB, {updatedAt: old})
    const recent = record('BUILDING', hostB)
    for (const r of [building, deleting, recent]) {
      await claimOn(r.host!.id === hostA.id ? hostA : hostB, r.id)
      await writeRecord(r)
    }

    await expectRepaired([
      ['stuck-instance', building.id],
      ['stuck-instance', deleting.id],
    ])
    const stored = JSON.parse((await transport.get(keys.instance(building.id)))!.value) as InstanceRecord
    expect(stored.state).to.equal('ERROR')
    expect(stored.error?.reason).to.match(/host was down/)
    expect(await allocationsOf(cp.placementUrl, building.id)).to.deep.equal({})
    expect(await transport.get(keys.instance(deleting.id))).to.equal(undefined)
    expect(await allocationsOf(cp.placementUrl, deleting.id)).to.deep.equal({})
    expect(Object.keys(await allocationsOf(cp.placementUrl, recent.id))).to.deep.equal([hostB.id])
  })

  it('a guest a host reports without record or allocation counts toward capacity; the audit reports it and leaves guests to the agent', async () => {
    // host-a: 2 VCPU of 2 allocated to `full`, and it reports a guest of `elsewhere` (allocated on host-b) and one of no record.
    const full = record('ACTIVE', hostA, {spec: {...record('ACTIVE').spec, vcpus: 2, resources: {...SMALL, VCPU: 2}}})
    const elsewhere = record('ACTIVE', hostB)
    const unknown = randomUUID()
    await claimOn(hostA, full.id, {...SMALL, VCPU: 2})
    await claimOn(hostB, elsewhere.id)
    await writeRecord(full)
    await writeRecord(elsewhere)
    await put(keys.alive(hostA.id), JSON.stringify({pid: 0, since: new Date().toISOString()}))
    const report = (guests: string[]): GuestInventory => ({
      at: new Date().toISOString(),
      guests: guests.map((id) => ({id, name: `ec-${id}`, state: 'running', defined: true})),
    })
    await put(keys.guests(hostA.id), JSON.stringify(report([full.id, elsewhere.id, unknown])))

    const found = await audit()
    expect(findings(found.report)).to.deep.equal(
      [
        ['guest-without-allocation', elsewhere.id],
        ['guest-without-record', unknown],
        ['over-capacity', hostA.id],
      ].sort(),
    )
    expect(found.report.findings.find((f) => f.kind === 'over-capacity')).to.include({resourceClass: 'VCPU'})
    expect(found.report.findings.find((f) => f.kind === 'over-capacity')!.detail).to.match(/uses 3 VCPU \(2 allocated, 1 by guests without allocation\) of a capacity of 2/)
    expect(found.code).to.equal(12)

    // Nothing here is the audit's to remove: --repair changes nothing and still exits 12.
    const repaired = await audit('--repair')
    expect(repaired.report.repaired).to.deep.equal([])
    expect(findings(repaired.report, repaired.report.remaining)).to.deep.equal(findings(found.report))
    expect(repaired.code).to.equal(12)

    // Once the host reports only its own guest, all is well.
    await put(keys.guests(hostA.id), JSON.stringify(report([full.id])))
    const clean = await audit()
    expect(clean.report.findings).to.deep.equal([])
    expect(clean.code).to.equal(0)
  })

  it('a damaged record is reported, not fatal; control characters in keys never reach the terminal raw', async () => {
    const damaged = randomUUID()
    await put(keys.instance(damaged), '{"id": "half a rec')
    await put(keys.name('evil\u001B[31m'), damaged)
    const found = await audit()
    // Its name points to a record that is there, only damaged: not an orphan.
    expect(findings(found.report)).to.deep.equal([['unreadable-key', '']])
    expect(found.report.findings[0].key).to.equal(keys.instance(damaged))
    expect(found.code).to.equal(12)
    const human = await cp.ec(['audit', '--repair'])
    expect(human.stdout).to.match(/1 inconsistencies remain after repair .*unreadable-key/)
    expect(human.code).to.equal(12)

    // With the record gone, the name is an orphan, and the audit shows it escaped.
    await transport.commit([], [{op: 'delete', key: keys.instance(damaged)}])
    const orphan = await cp.ec(['audit'])
    expect(orphan.stdout).to.include(String.raw`evil\u001B[31m`)
    expect(orphan.stdout).to.not.include('\u001B')
    expect(orphan.code).to.equal(12)
  })

  describe('with a real agent', () => {
    let agent: RunningAgent | undefined
    let agents = 0
    /** A host of its own per test: guests a killed agent left behind are another test's business. */
    const startOwnAgent = async () => {
      const name = `audit-agent-${++agents}`
      agent = await startAgent(cp.env, name, join(cp.sandbox.dir, 'agents', name))
    }

    afterEach(async function () {
      if (this.currentTest?.state === 'failed' && agent) console.log(`${agent.name}'s log:\n${agent.output()}`)
      // Gracefully: the host leaves scheduling, so the next test's creates never land on a dead host.
      await agent?.stop('SIGTERM')
      agent = undefined
    })

    it('--repair while creates and deletes are in flight repairs nothing and leaves every instance ACTIVE or gone', async function () {
      this.timeout(300_000)
      await startOwnAgent()
      const elsewhere = ['--forbid-trait', hostA.trait, '--forbid-trait', hostB.trait]
      const create = (name: string) => cp.ec(['instance', 'create', name, '--flavor', 'one', '--image', 'base', ...elsewhere, '--wait', '--json'])
      for (const name of ['old1', 'old2']) expect((await create(name)).code).to.equal(0)

      let busy = true
      const work = Promise.all([
        ...['new1', 'new2', 'new3', 'new4'].map((name) => create(name)),
        ...['old1', 'old2'].map((name) => cp.ec(['instance', 'delete', name, '--json'])),
      ]).finally(() => (busy = false))
      const audits: AuditReport[] = []
      while (busy) audits.push((await audit('--repair')).report)
      for (const result of await work) expect(result.code, result.stdout + result.stderr).to.equal(0)

      expect(audits.length).to.be.greaterThan(0)
      expect(audits.flatMap((a) => a.repaired)).to.deep.equal([])
      const {items} = await transport.list(keys.instances())
      const states = items.map((kv) => JSON.parse(kv.value) as InstanceRecord).map((r) => [r.name, r.state])
      expect(states.sort()).to.deep.equal(['new1', 'new2', 'new3', 'new4'].map((name) => [name, 'ACTIVE']))
      const last = await audit()
      expect(last.report.findings).to.deep.equal([])
      expect(last.code).to.equal(0)
    })

    it('an ACTIVE instance audits clean; its allocation released behind its back is found, and it ends ERROR with the audit clean', async () => {
      await startOwnAgent()
      // Not onto the two hosts without an agent.
      const elsewhere = ['--forbid-trait', hostA.trait, '--forbid-trait', hostB.trait]
      const created = await cp.ec(['instance', 'create', 'live1', '--flavor', 'one', '--image', 'base', ...elsewhere, '--wait', '--json'])
      expect(created.code, created.stdout + created.stderr).to.equal(0)
      const {id} = parseJson<InstanceRecord>(created)
      const clean = await audit()
      expect(clean.report.findings).to.deep.equal([])
      expect(clean.code).to.equal(0)

      // Released behind its back: the audit finds it, unless the agent's own resync got there first
      // (it fails such an instance too); either way it ends ERROR and the audit clean.
      await scheduler.release(id)
      const found = await audit()
      expect(found.report.findings.every((f) => f.id === id), JSON.stringify(found.report.findings)).to.equal(true)
      if (found.code === 12) {
        const kinds = found.report.findings.map((f) => f.kind)
        expect(kinds).to.satisfy((k: string[]) => k.length > 0 && k.every((kind) => ['record-without-allocation', 'guest-without-allocation'].includes(kind)))
        const repaired = await audit('--repair')
        expect(repaired.report.repaired.every((r) => r.id === id), JSON.stringify(repaired.report)).to.equal(true)
      }

      const stored = JSON.parse((await transport.get(keys.instance(id)))!.value) as InstanceRecord
      expect(stored.state).to.equal('ERROR')

      // The agent reports the guest until its next resync removes it: wait for the audit to settle, with a deadline.
      const deadline = Date.now() + 60_000
      let last = await audit()
      while (last.code !== 0 && Date.now() < deadline) {
        await sleep(500)
        last = await audit()
      }

      expect(last.report.findings, JSON.stringify(last.report.findings)).to.deep.equal([])
      expect(last.code).to.equal(0)
    })
  })
})
