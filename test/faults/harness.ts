// The fault suite's cluster: a real control plane (`ec up`), real agents on
// libvirt's test driver, bursts of real `ec instance create` processes, faults
// injected by signal, and invariant checks made two ways: through `ec audit
// --json`, and independently against etcd's and Placement's own APIs.
// Shared by test/faults/faults.test.ts and bench/faults.ts.
import {type ChildProcess, spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import pLimit from 'p-limit'

import {EtcdTransport} from '../../plugins/etcd/src/transport.js'
import {keys} from '../../src/instances/keys.js'
import type {GuestInventory, InstanceRecord} from '../../src/instances/model.js'
import {InstanceStore} from '../../src/instances/store.js'
import {startAgent, type RunningAgent} from '../helpers/agent.js'
import {parseJson, runEc, type RunResult} from '../helpers/cli.js'
import {startControlPlane, type TestControlPlane} from '../helpers/control-plane.js'
import {etcdKeys} from '../helpers/etcd.js'
import {makeQcow2} from '../helpers/image-server.js'
import {allocationsOf, providerAllocations, providers} from '../helpers/placement.js'

/** How often agents resync in the suite: the bound on a missed event. */
export const RESYNC_SECONDS = 2
export const FLAVOR = {vcpus: 1, memoryMb: 128, diskGb: 1}
const SETTLED = new Set<InstanceRecord['state']>(['ACTIVE', 'ERROR'])

export interface ClusterOptions {
  hosts: number
  /** VCPU per host; the flavor takes one, so this is also guests per host. */
  vcpusPerHost: number
  /** Environment for the first start of every agent (e.g. armed failpoints). */
  agentEnv?: NodeJS.ProcessEnv
}

export interface CreateOutcome {
  name: string
  code: number
  message: string
}

export interface Violations {
  /** Providers whose allocations, or whose reported guests, exceed their capacity. */
  overCommitted: string[]
  guestsWithoutAllocation: string[]
  stuck: string[]
  orphans: string[]
  /** ERROR records that still hold an allocation or a guest, or give no reason. */
  badErrors: string[]
}

export class FaultCluster {
  readonly agents = new Map<string, RunningAgent>()
  private readonly burners: ChildProcess[] = []

  private constructor(
    readonly cp: TestControlPlane,
    readonly store: InstanceStore,
    private readonly options: ClusterOptions,
    private readonly imageDir: string,
  ) {}

  /**
   * The suite's checks on a control plane started elsewhere (test/helpers/cluster.ts:
   * three etcd members, Placement on MariaDB); the caller starts the agents and
   * puts them in `agents`. stop() stops them, closes the store and stops `cp`.
   */
  static attach(cp: TestControlPlane, store: InstanceStore, options: ClusterOptions, imageDir: string): FaultCluster {
    return new FaultCluster(cp, store, options, imageDir)
  }

  static async start(options: ClusterOptions): Promise<FaultCluster> {
    const imageDir = mkdtempSync(join(tmpdir(), 'ec-faults-image-'))
    const cp = await startControlPlane(
      [
        'backends: {metadata: none}',
        'libvirt: {uri: "test:///default"}',
        'compute:',
        '  leaseTtlSeconds: 5',
        '  shutdownGraceSeconds: 5',
        `  resyncSeconds: ${RESYNC_SECONDS}`,
        `  inventory: {VCPU: ${options.vcpusPerHost}, MEMORY_MB: ${options.vcpusPerHost * FLAVOR.memoryMb}, DISK_GB: ${options.vcpusPerHost * FLAVOR.diskGb}}`,
        '  reserved: {MEMORY_MB: 0}',
        '  allocationRatio: {VCPU: 1, MEMORY_MB: 1, DISK_GB: 1}',
        'scheduling: {deleteTimeoutSeconds: 120, pendingTimeoutSeconds: 60}',
        'flavors:',
        `  one: {vcpus: ${FLAVOR.vcpus}, memoryMb: ${FLAVOR.memoryMb}, diskGb: ${FLAVOR.diskGb}}`,
        'images:',
        `  base: {path: ${makeQcow2(imageDir, 'base.qcow2', '16M')}}`,
      ].join('\n'),
    ).catch((error: unknown) => {
      rmSync(imageDir, {recursive: true, force: true})
      throw error
    })
    // The suite's own reads are patient: they observe faults, they must not fail because of them.
    const store = new InstanceStore(new EtcdTransport({endpoints: [cp.etcdEndpoint], prefix: '/ec', timeoutMs: 15_000, tls: cp.clientTls}), {stallBudgetMs: 120_000})
    await store.list() // reached once: from here on a stall is waited out
    const cluster = new FaultCluster(cp, store, options, imageDir)
    try {
      for (let i = 1; i <= options.hosts; i++) await cluster.startAgent(`host-${i}`, options.agentEnv)
    } catch (error) {
      await cluster.stop()
      throw error
    }

    return cluster
  }

  get capacity(): number {
    return this.options.hosts * this.options.vcpusPerHost
  }

  async startAgent(name: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<RunningAgent> {
    const agent = await startAgent({...this.cp.env, ...extraEnv}, name, join(this.cp.sandbox.dir, 'agents', name), 120_000)
    this.agents.set(name, agent)
    return agent
  }

  /** A CLI run with room for a loaded machine and a stalled service (each call waits out up to 30 s). */
  ec(args: string[]): Promise<RunResult> {
    return runEc(args, {env: this.cp.env, cwd: this.cp.sandbox.dir, timeoutMs: 300_000})
  }

  /** The pid of a control-plane service, as `ec status` reports it. */
  async servicePid(name: 'etcd' | 'placement'): Promise<number> {
    const status = parseJson<{services: Array<{name: string; pid?: number}>}>(await this.ec(['status', '--json']))
    const pid = status.services.find((s) => s.name === name)?.pid
    if (!pid) throw new Error(`ec status names no running ${name}`)
    return pid
  }

  /** A busy process on every core, until stopBurners(). */
  startBurners(count = 2): void {
    for (let i = 0; i < count; i++) this.burners.push(spawn('sh', ['-c', 'exec yes > /dev/null'], {stdio: 'ignore'}))
  }

  stopBurners(): void {
    for (const burner of this.burners.splice(0)) burner.kill('SIGKILL')
  }

  /**
   * `count` concurrent `ec instance create` processes (at most `concurrency`
   * at once); every `deleteEvery`-th one is deleted again as soon as its
   * create returns, by a concurrent `ec instance delete`.
   */
  async burst(prefix: string, count: number, options: {concurrency?: number; deleteEvery?: number} = {}): Promise<{creates: CreateOutcome[]; deleted: string[]}> {
    const limit = pLimit(options.concurrency ?? 10)
    const deleted: string[] = []
    const deletes: Array<Promise<void>> = []
    const creates = await Promise.all(
      Array.from({length: count}, (_, i) =>
        limit(async (): Promise<CreateOutcome> => {
          const name = `${prefix}${i}`
          const result = await this.ec(['instance', 'create', name, '--flavor', 'one', '--image', 'base', '--no-wait', '--json'])
          if (options.deleteEvery && i % options.deleteEvery === 0) {
            deleted.push(name)
            deletes.push(this.deleteUntilDone([name]))
          }

          return {name, code: result.code, message: errorMessage(result)}
        }),
      ),
    )
    await Promise.all(deletes)
    return {creates, deleted}
  }

  /**
   * `ec instance delete --no-wait` (the hosts finish on their own; settle()
   * and deleteAll() wait for that), asked again while a service it needs does
   * not answer, as a user would.
   */
  async deleteUntilDone(refs: string[], timeoutMs = 180_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const result = await this.ec(['instance', 'delete', '--no-wait', ...refs])
      if (result.code === 0) return
      if (result.code !== 4 || Date.now() > deadline) throw new Error(`ec instance delete ${refs.join(' ')}: exit ${result.code}: ${errorMessage(result)}`)
      await sleep(1000)
    }
  }

  /** Wait until no instance is between states; returns how long it took, or throws naming those that are stuck. */
  async settle(boundMs: number): Promise<number> {
    const started = Date.now()
    for (;;) {
      const {records} = await this.store.list()
      const moving = records.filter((r) => !SETTLED.has(r.value.state))
      if (moving.length === 0) return Date.now() - started
      if (Date.now() - started > boundMs) {
        const stuck = moving.map((r) => `${r.value.name} ${r.value.state} at ${r.value.step ?? '-'} on ${r.value.host?.name ?? '-'}`)
        throw new Error(`not settled within ${boundMs} ms: ${stuck.join('; ')}\n${this.agentWarnings()}`)
      }

      await sleep(250)
    }
  }

  /** Wait until every live agent published a guest inventory newer than now (one resync later). */
  async freshGuestInventories(timeoutMs = 60_000): Promise<Map<string, GuestInventory>> {
    const since = new Date().toISOString()
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const all = await etcdKeys(this.cp.etcdEndpoint)
      const inventories = new Map<string, GuestInventory>()
      let fresh = true
      for (const provider of await this.hostProviders()) {
        const value = all[keys.guests(provider.uuid)]
        const inventory = value ? (JSON.parse(value) as GuestInventory) : undefined
        if (!inventory || inventory.at <= since) fresh = false
        else inventories.set(provider.uuid, inventory)
      }

      if (fresh) return inventories
      if (Date.now() > deadline) throw new Error('agents did not publish their guest inventories in time')
      await sleep(250)
    }
  }

  /** The invariants, checked against etcd's and Placement's own APIs and the guests the hosts report. */
  async violations(): Promise<Violations> {
    const found: Violations = {overCommitted: [], guestsWithoutAllocation: [], stuck: [], orphans: [], badErrors: []}
    const inventories = await this.freshGuestInventories()
    const all = await etcdKeys(this.cp.etcdEndpoint)
    const records = new Map<string, InstanceRecord>()
    for (const [key, value] of Object.entries(all)) {
      if (key.startsWith('instances/')) records.set(key.slice('instances/'.length), JSON.parse(value) as InstanceRecord)
    }

    for (const record of records.values()) {
      if (!SETTLED.has(record.state)) found.stuck.push(`${record.name}: ${record.state}`)
      if (all[keys.name(record.name)] !== record.id) found.orphans.push(`record ${record.name} without its name key`)
    }

    for (const [key, value] of Object.entries(all)) {
      if (key.startsWith('names/') && records.get(value)?.name !== key.slice('names/'.length)) found.orphans.push(`name key ${key} → ${value}`)
      const assigned = /^hosts\/[^/]+\/assigned\/(.+)$/.exec(key)
      if (assigned && !records.has(assigned[1])) found.orphans.push(`assignment ${key} without record`)
    }

    for (const provider of await this.hostProviders()) {
      for (const [cls, used] of Object.entries(provider.usages)) {
        if (used > provider.capacity[cls]) found.overCommitted.push(`${provider.name}: ${cls} allocated ${used} of ${provider.capacity[cls]}`)
      }

      const held = await providerAllocations(this.cp.placementUrl, provider.uuid)
      for (const consumer of Object.keys(held)) {
        const record = records.get(consumer)
        if (!record) found.orphans.push(`allocation of ${consumer} on ${provider.name} without record`)
        else if (record.state === 'ERROR') found.badErrors.push(`${record.name} is ERROR but holds an allocation on ${provider.name}`)
      }

      // What the hypervisor runs counts, not only what Placement was told.
      const guests = (inventories.get(provider.uuid)?.guests ?? []).filter((g) => g.defined)
      const running: Record<string, number> = {}
      for (const guest of guests) {
        const record = records.get(guest.id)
        if (!record) found.orphans.push(`guest ${guest.name} on ${provider.name} without record`)
        else if (record.state === 'ERROR') found.badErrors.push(`${record.name} is ERROR but its guest still runs on ${provider.name}`)
        if (!held[guest.id]) found.guestsWithoutAllocation.push(`${guest.name} on ${provider.name}`)
        for (const [cls, amount] of Object.entries(record?.spec.resources ?? {})) running[cls] = (running[cls] ?? 0) + amount
      }

      for (const [cls, amount] of Object.entries(running)) {
        if (amount > (provider.capacity[cls] ?? 0)) found.overCommitted.push(`${provider.name}: guests use ${amount} ${cls} of ${provider.capacity[cls]}`)
      }
    }

    for (const record of records.values()) {
      if (record.state === 'ERROR' && !record.error?.reason) found.badErrors.push(`${record.name} is ERROR without a reason`)
      if (record.state === 'ACTIVE' && Object.keys(await allocationsOf(this.cp.placementUrl, record.id)).length === 0) {
        found.guestsWithoutAllocation.push(`${record.name} is ACTIVE without an allocation`)
      }
    }

    return found
  }

  /** `ec audit --json`: its exit code and document. */
  async audit(): Promise<{code: number; report: {consistent: boolean; findings: unknown[]}}> {
    const result = await this.ec(['audit', '--json'])
    return {code: result.code, report: parseJson(result)}
  }

  /** Every record, ERROR reasons counted. */
  async outcome(): Promise<{active: number; errors: Record<string, number>}> {
    const {records} = await this.store.list()
    const errors: Record<string, number> = {}
    for (const {value} of records) {
      if (value.state === 'ERROR') errors[value.error?.reason ?? '?'] = (errors[value.error?.reason ?? '?'] ?? 0) + 1
    }

    return {active: records.filter((r) => r.value.state === 'ACTIVE').length, errors}
  }

  /** Delete everything and wait until no key, allocation or guest of an instance is left. */
  async deleteAll(timeoutMs = 180_000): Promise<void> {
    const {records} = await this.store.list()
    if (records.length > 0) await this.deleteUntilDone(records.map((r) => r.value.id), timeoutMs)
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const left = await this.traces()
      if (left.length === 0) return
      if (Date.now() > deadline) throw new Error(`left after deleting everything: ${left.join('; ')}`)
      await sleep(500)
    }
  }

  async stop(): Promise<void> {
    this.stopBurners()
    await Promise.all([...this.agents.values()].map((agent) => agent.stop('SIGKILL')))
    await this.store.transport.close()
    try {
      await this.cp.stop()
    } finally {
      rmSync(this.imageDir, {recursive: true, force: true})
    }
  }

  agentWarnings(): string {
    const lines = [...this.agents.values()].flatMap((a) =>
      a
        .output()
        .split('\n')
        .filter((line) => / (warn|error) /.test(line))
        .slice(-10)
        .map((line) => `${a.name}: ${line}`),
    )
    return `agent warnings:\n${lines.join('\n') || '(none)'}`
  }

  private async hostProviders(): Promise<Awaited<ReturnType<typeof providers>>> {
    return (await providers(this.cp.placementUrl)).filter((p) => p.traits.includes('CUSTOM_EC_HOST'))
  }

  private async traces(): Promise<string[]> {
    const all = await etcdKeys(this.cp.etcdEndpoint)
    const left = Object.keys(all).filter((k) => k.startsWith('instances/') || k.startsWith('names/') || k.includes('/assigned/'))
    for (const provider of await this.hostProviders()) {
      const held = Object.keys(await providerAllocations(this.cp.placementUrl, provider.uuid))
      left.push(...held.map((consumer) => `allocation of ${consumer} on ${provider.name}`))
      const inventory = all[keys.guests(provider.uuid)]
      const guests = inventory ? (JSON.parse(inventory) as GuestInventory).guests : []
      left.push(...guests.map((g) => `guest ${g.name} on ${provider.name}`))
    }

    return left
  }
}

/** The one-line error of a failed run (JSON error document or stderr). */
function errorMessage(result: RunResult): string {
  if (result.code === 0) return ''
  try {
    return (JSON.parse(result.stdout) as {error: {message: string}}).error.message
  } catch {
    return result.stderr.trim().split('\n').slice(0, 3).join(' | ')
  }
}
