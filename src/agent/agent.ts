// `ec compute start`: one agent per host. It registers the host with the
// scheduler, keeps a liveness key on a lease, reconciles what the transport
// says it should run with what the hypervisor has and what the scheduler
// holds for it, then follows its assignments. The watch is only the fast
// path: every compute.resyncSeconds (and whenever the watch re-attaches) the
// agent lists again and acts on the level, so a missed event costs a delay,
// never an instance. On stop it takes itself out of scheduling first.
import {setTimeout as sleep} from 'node:timers/promises'

import type {ComputeConfig} from '../config/defaults.js'
import {type AgentPresence, disabledMarker} from '../hosts/hosts.js'
import {instanceIdOfAssignmentKey, keys} from '../instances/keys.js'
import {type Assignment, type InstanceRecord, now} from '../instances/model.js'
import {InstanceStore} from '../instances/store.js'
import type {
  Logger,
  GuestNumaCell,
  HypervisorBackend,
  HypervisorCapabilities,
  MetadataBackend,
  SchedulerBackend,
  Lease,
  TransportBackend,
  WatchEvent,
  WatchHandle,
} from '@ec/plugin-api'
import {waitOutStalls} from '../retry.js'
import {readStorageRecord} from '../storage/records.js'
import {buildInstance, fail, type HostServices, removeGuest, teardownInstance} from './build.js'
import {GuestInventoryPublisher} from './guest-inventory.js'
import type {HostIdentity} from './host-identity.js'
import {inventoryFrom, type MeasuredCapacity} from './inventory.js'
import {type NumaNode, numaInventories, PER_NODE_CLASSES} from './numa.js'
import {PhoneHomes} from './phone-homes.js'
import {WorkQueue} from './work-queue.js'

export interface AgentBackends {
  scheduler: SchedulerBackend
  transport: TransportBackend
  hypervisor: HypervisorBackend
  metadata?: MetadataBackend
}

export interface AgentOptions {
  identity: HostIdentity
  compute: ComputeConfig
  capacity: MeasuredCapacity
  /** What the hypervisor can do for guests (describeHost): builds ask for nothing else. */
  capabilities: HypervisorCapabilities
  backends: AgentBackends
  log: Logger
  /** Everything the host reports (CPU features, capabilities, config traits); default compute.traits. */
  traits?: string[]
  /** What it reported last time: those no longer reported are removed. */
  previousTraits?: string[]
  /** NUMA nodes reported as child providers; none: a flat host. */
  numaNodes?: NumaNode[]
  /** The ec version, shown by ec host list. */
  version: string
}

/**
 * How long the agent's writes wait out an etcd that stalls. Longer than a
 * CLI's: no one is waiting at a terminal, and a build that gives up on a
 * stall ends in ERROR although nothing was wrong with it.
 */
const AGENT_STALL_BUDGET_MS = 120_000
/** How long a resync waits for this round's removals of unassigned guests before publishing anyway. */
const REMOVAL_PATIENCE_MS = 10_000

export class ComputeAgent {
  private readonly store: InstanceStore
  private readonly queue: WorkQueue
  private readonly host: HostServices
  private readonly inventory: GuestInventoryPublisher
  private watch?: WatchHandle
  private lease?: Lease
  private resyncTimer?: NodeJS.Timeout
  private resyncing?: Promise<void>
  private stopping = false
  private numaNodeIds: Record<number, string> = {}

  constructor(private readonly options: AgentOptions) {
    this.store = new InstanceStore(options.backends.transport, {stallBudgetMs: AGENT_STALL_BUDGET_MS})
    this.queue = new WorkQueue(options.compute.workers)
    const {metadata} = options.backends
    this.inventory = new GuestInventoryPublisher(options.identity.id, options.backends.hypervisor, options.backends.transport, () => this.lease, options.log)
    const phoneHomes = metadata?.phonesHome ? new PhoneHomes() : undefined
    if (phoneHomes) metadata!.onPhoneHome(phoneHomes.receive)
    this.host = {
      hostId: options.identity.id,
      phoneHomes,
      guestReadyTimeoutMs: options.compute.guestReadyTimeoutSeconds * 1000,
      store: this.store,
      scheduler: options.backends.scheduler,
      hypervisor: options.backends.hypervisor,
      capabilities: options.capabilities,
      metadata: options.backends.metadata,
      log: options.log,
      numaCells: (id, allocations) => this.numaCells(id, allocations),
      storageDir: (id, allocations) => this.storageDir(id, allocations),
      guestRemoved: () => this.inventory.refresh(),
    }
  }

  get hostId(): string {
    return this.options.identity.id
  }

  async start(): Promise<void> {
    const {identity, compute, capacity, backends, log, numaNodes = []} = this.options
    const inventory = inventoryFrom(capacity, compute)
    const registered = await backends.scheduler.registerHost({
      id: identity.id,
      name: identity.name,
      // With NUMA nodes, VCPU and MEMORY_MB are theirs; the host keeps the rest (DISK_GB).
      inventory: numaNodes.length > 0 ? inventory.filter((item) => !PER_NODE_CLASSES.has(item.resourceClass)) : inventory,
      traits: this.options.traits ?? compute.traits,
      previousTraits: this.options.previousTraits,
      numaNodes: numaNodes.length > 0 ? numaInventories(numaNodes, compute) : undefined,
    })
    this.numaNodeIds = registered.numaNodeIds ?? {}
    // Out of scheduling until reconciled: what it already owes comes first.
    await backends.scheduler.setSchedulable(identity.id, false)
    await this.holdLiveness()
    const revision = await this.resync()
    await this.follow(revision)
    this.resyncTimer = setInterval(() => this.resyncSoon('periodic'), compute.resyncSeconds * 1000)
    // An operator's `ec host disable` outlives this agent's restarts.
    let disabled = await disabledMarker(backends.transport, identity.id)
    if (!disabled) {
      await backends.scheduler.setSchedulable(identity.id, true)
      // A disable that raced this start wins: it was asked for after the start began.
      disabled = await disabledMarker(backends.transport, identity.id)
      if (disabled) await backends.scheduler.setSchedulable(identity.id, false)
    }

    if (disabled) {
      log.info(`host ${identity.name} (${identity.id}) is up but stays out of scheduling: disabled by an operator${disabled.reason ? ` (${disabled.reason})` : ''}; ec host enable ${identity.name} puts it back; following assignments from revision ${revision}`)
    } else {
      log.info(`host ${identity.name} (${identity.id}) is schedulable; following assignments from revision ${revision}`)
    }
  }

  /** The host nodes an instance's allocation takes VCPU and memory from, one guest cell each. */
  private numaCells(id: string, allocations: Record<string, Record<string, number>>): GuestNumaCell[] | undefined {
    const nodes = this.options.numaNodes ?? []
    if (nodes.length === 0) return undefined
    const cells: GuestNumaCell[] = []
    for (const node of nodes) {
      const taken = allocations[this.numaNodeIds[node.node]]
      if (taken) cells.push({hostNode: node.node, hostCpus: node.cpus, vcpus: taken.VCPU ?? 0, memoryMb: taken.MEMORY_MB ?? 0})
    }

    if (cells.length === 0) return undefined
    this.options.log.info(`pinning ${id} to NUMA node(s) ${cells.map((c) => c.hostNode).join(',')} (${cells.map((c) => `${c.vcpus} vCPU ${c.memoryMb} MiB`).join(' + ')})`)
    return cells
  }

  /**
   * The directory of the shared storage the allocation takes DISK_GB from (a
   * provider outside this host's tree), from its record in the transport.
   */
  private async storageDir(id: string, allocations: Record<string, Record<string, number>>): Promise<string | undefined> {
    const own = new Set([this.hostId, ...Object.values(this.numaNodeIds)])
    const shared = Object.entries(allocations).find(([provider, resources]) => !own.has(provider) && (resources.DISK_GB ?? 0) > 0)
    if (!shared) return undefined
    const record = await waitOutStalls(() => readStorageRecord(this.options.backends.transport, shared[0]), {budgetMs: AGENT_STALL_BUDGET_MS})
    const where = record?.path ?? "this host's own disk directory"
    this.options.log.info(`disk of ${id} on shared storage ${record?.name ?? shared[0]}: ${where}`)
    return record?.path
  }

  /** Stop taking work, leave scheduling, let in-flight work finish or abandon it safely. */
  async stop(graceMs = this.options.compute.shutdownGraceSeconds * 1000): Promise<{finished: boolean}> {
    this.stopping = true
    clearInterval(this.resyncTimer)
    const {backends, identity, log} = this.options
    await this.watch?.close().catch(() => undefined)
    await this.resyncing
    await backends.scheduler
      .setSchedulable(identity.id, false)
      .catch((error) => log.warn(`could not take host out of scheduling: ${(error as Error).message}`))
    const finished = await this.queue.drain(graceMs)
    if (!finished) {
      // Abandoned builds stay BUILDING; the next start resumes them.
      log.warn('in-flight work did not finish in time; it resumes when the agent starts again')
      this.queue.abortAll()
    }

    await this.lease?.revoke().catch(() => undefined)
    return {finished}
  }

  /**
   * One pass over the level: every assignment without work in flight is
   * settled from its record, guests nobody is assigned are removed, and the
   * guest inventory is published for `ec audit`. Returns the listing's revision.
   */
  private async resync(): Promise<string> {
    const {scheduler} = this.options.backends
    // Assignments before guests: a build that defines its domain after the
    // listing is in the queue by the time the guests are looked at.
    const {items, revision} = await this.store.readAll(keys.assignments(this.hostId))
    const listing = await this.inventory.list()
    const {guests} = listing
    // Unknown (the scheduler does not answer) skips the allocation checks this round.
    const held = await scheduler.hostAllocations(this.hostId).catch((error: unknown) => {
      this.options.log.warn(`cannot list this host's allocations: ${(error as Error).message}; checking them next round`)
      return undefined
    })
    const defined = new Set(guests.filter((g) => g.defined).map((g) => g.id))
    const assigned = new Set<string>()
    for (const kv of items) {
      const assignment = JSON.parse(kv.value) as Assignment
      assigned.add(assignment.id)
      if (this.queue.has(assignment.id)) continue // its job owns it
      const record = (await this.store.get(assignment.id))?.value
      this.settle(assignment, record, defined, held)
    }

    const removals = guests
      .filter((guest) => !assigned.has(guest.id) && !this.queue.has(guest.id))
      .map((guest) => this.run(guest.id, 'remove an unassigned guest', () => this.removeUnassigned(guest.id)))
    // Guests deleted while this host was cut off (a delete that found it down released their
    // allocations): each removal publishes what runs once its guest is gone, and this older
    // listing, which still had them, then goes out no more.
    if (removals.length > 0) await Promise.race([Promise.all(removals), sleep(REMOVAL_PATIENCE_MS, undefined, {ref: false})])

    await this.inventory.publish(listing)
    return revision
  }

  /** Queue what one assignment still owes, judged from its record and this round's facts. */
  private settle(
    assignment: Assignment,
    record: InstanceRecord | undefined,
    guests: Set<string>,
    held: Record<string, Record<string, number>> | undefined,
  ): void {
    const {id} = assignment
    if (!record || assignment.op === 'delete' || record.state === 'DELETING') {
      this.run(id, 'delete', () => teardownInstance(id, this.host), {preempt: true})
    } else if (record.state === 'SCHEDULED' || record.state === 'BUILDING') {
      // Not in flight here: never started, or interrupted (a restart, a failure it could not record).
      if (record.state === 'BUILDING') this.options.log.info(`resuming the build of ${record.name} (${id}) interrupted at ${record.step}`)
      this.run(id, 'build', (signal) => buildInstance(id, this.host, signal))
    } else if (record.state === 'ACTIVE' && !guests.has(id)) {
      this.run(id, 'check a vanished guest', () => this.guestVanished(id))
    } else if (record.state === 'ACTIVE' && held && !held[id]) {
      this.run(id, 'check a lost allocation', () => this.allocationLost(id))
    } else if (record.state === 'ERROR' && (guests.has(id) || held?.[id])) {
      // A failure that could not finish its cleanup: an ERROR instance keeps no guest and holds nothing.
      this.run(id, 'clean up after a failure', async () => {
        await removeGuest(id, this.host)
        await this.host.scheduler.release(id)
      })
    }
  }

  /** Queue a job for one instance; its failure is logged, and the next resync tries again. */
  private run(id: string, what: string, job: (signal: AbortSignal) => Promise<void>, options: {preempt?: boolean} = {}): Promise<void> {
    return this.queue.push(
      id,
      (signal) =>
        job(signal).catch((error: unknown) => {
          this.options.log.warn(`${what} of ${id} failed: ${(error as Error).message}; trying again at the next resync`)
        }),
      options,
    )
  }

  private resyncSoon(why: string): void {
    if (this.stopping || this.resyncing) return
    this.resyncing = this.resync()
      .then(() => undefined)
      .catch((error: unknown) => this.options.log.warn(`resync (${why}) failed: ${(error as Error).message}`))
      .finally(() => (this.resyncing = undefined))
  }

  private async follow(afterRevision: string): Promise<void> {
    this.watch = await this.options.backends.transport.watch(keys.assignments(this.hostId), {
      afterRevision,
      onEvents: (events) => {
        for (const event of events) this.handle(event)
      },
      onResumed: () => this.resyncSoon('the assignment watch re-attached'),
      onError: (error) => void this.recoverWatch(error),
    })
  }

  private handle(event: WatchEvent): void {
    if (this.stopping) return
    if (event.type === 'delete') {
      // Removed by a delete that found this host down: only the local side is left.
      const id = instanceIdOfAssignmentKey(event.key)
      if (id) this.run(id, 'remove the guest', () => removeGuest(id, this.host), {preempt: true})
      return
    }

    const assignment = JSON.parse(event.kv.value) as Assignment
    if (assignment.op === 'delete') {
      this.run(assignment.id, 'delete', () => teardownInstance(assignment.id, this.host), {preempt: true})
    } else {
      this.run(assignment.id, 'build', (signal) => buildInstance(assignment.id, this.host, signal))
    }
  }

  /** History we needed was compacted (or the watch broke): list again and follow from there. */
  private async recoverWatch(error: Error): Promise<void> {
    if (this.stopping) return
    this.options.log.warn(`assignment watch failed (${error.message}); reconciling again`)
    await this.watch?.close().catch(() => undefined)
    for (let delay = 500; !this.stopping; delay = Math.min(delay * 2, 10_000)) {
      try {
        await this.follow(await this.resync())
        return
      } catch (retryError) {
        this.options.log.warn(`reconcile failed: ${(retryError as Error).message}; retrying in ${delay} ms`)
        await sleep(delay)
      }
    }
  }

  /** The liveness key lives on a lease; if the lease is lost (etcd unreachable too long), get a new one. */
  private async holdLiveness(): Promise<void> {
    const {transport} = this.options.backends
    const {identity, compute} = this.options
    const lease = await transport.grantLease(compute.leaseTtlSeconds)
    const presence: AgentPresence = {name: identity.name, pid: process.pid, since: now(), address: compute.address, version: this.options.version}
    const value = JSON.stringify(presence)
    await transport.commit([], [{op: 'put', key: keys.alive(identity.id), value, lease: lease.id}])
    this.lease = lease
    void lease.lost.then(async () => {
      for (let delay = 500; !this.stopping; delay = Math.min(delay * 2, 10_000)) {
        try {
          this.options.log.warn('liveness lease lost; taking a new one')
          await this.holdLiveness()
          this.resyncSoon('a new liveness lease') // the guest inventory went with the old lease
          return
        } catch {
          await sleep(delay)
        }
      }
    })
  }

  private async definedGuests(): Promise<Set<string>> {
    return new Set((await this.options.backends.hypervisor.list()).filter((g) => g.defined).map((g) => g.id))
  }

  /** Runs in the instance's queue slot, so no build or delete of it runs meanwhile: look once more. */
  private async guestVanished(id: string): Promise<void> {
    const record = (await this.store.get(id))?.value
    if (record?.state !== 'ACTIVE' || (await this.definedGuests()).has(id)) return
    await fail(record, 'guest', 'its guest disappeared outside ec (the domain is gone); delete the instance', this.host)
  }

  /** An ACTIVE guest whose allocation is gone must not keep running: the host would be over-committed. */
  private async allocationLost(id: string): Promise<void> {
    const record = (await this.store.get(id))?.value
    if (record?.state !== 'ACTIVE') return
    if (Object.keys(await this.host.scheduler.allocations(id)).length > 0) return
    await fail(record, 'guest', 'its allocation in the scheduler is gone (released outside ec, or by a delete that found the host down); the guest was stopped — delete the instance', this.host)
  }

  /** A guest no assignment names, looked at once more in its own slot: an assignment may have arrived since. */
  private async removeUnassigned(id: string): Promise<void> {
    if (await this.store.read(keys.assignment(this.hostId, id))) return
    this.options.log.info(`removing guest ${id}: no instance is assigned to it any more`)
    await removeGuest(id, this.host)
  }
}
