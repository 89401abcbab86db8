// `ec compute start`: one agent per host. It registers the host with the
// scheduler, keeps a liveness key on a lease, reconciles what the transport
// says it should run with what the hypervisor has, then follows its
// assignments. On stop it takes itself out of scheduling first.
import {setTimeout as sleep} from 'node:timers/promises'

import type {ComputeConfig} from '../config/defaults.js'
import {instanceIdOfAssignmentKey, keys} from '../instances/keys.js'
import {type Assignment, now} from '../instances/model.js'
import {InstanceStore} from '../instances/store.js'
import type {Logger} from '../plugins/backend.js'
import type {HypervisorBackend} from '../plugins/hypervisor.js'
import type {MetadataBackend} from '../plugins/metadata.js'
import type {SchedulerBackend} from '../plugins/scheduler.js'
import type {Lease, TransportBackend, WatchEvent, WatchHandle} from '../plugins/transport.js'
import {buildInstance, fail, type HostServices, MAX_BUILD_ATTEMPTS, removeGuest, teardownInstance} from './build.js'
import type {HostIdentity} from './host-identity.js'
import {inventoryFrom, type MeasuredCapacity} from './inventory.js'
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
  backends: AgentBackends
  log: Logger
}

export class ComputeAgent {
  private readonly store: InstanceStore
  private readonly queue: WorkQueue
  private readonly host: HostServices
  private watch?: WatchHandle
  private lease?: Lease
  private checkTimer?: NodeJS.Timeout
  private stopping = false

  constructor(private readonly options: AgentOptions) {
    this.store = new InstanceStore(options.backends.transport)
    this.queue = new WorkQueue(options.compute.workers)
    const {metadata} = options.backends
    const phoneHomes = metadata?.phonesHome ? new PhoneHomes() : undefined
    if (phoneHomes) metadata!.onPhoneHome(phoneHomes.receive)
    this.host = {
      hostId: options.identity.id,
      phoneHomes,
      guestReadyTimeoutMs: options.compute.guestReadyTimeoutSeconds * 1000,
      store: this.store,
      scheduler: options.backends.scheduler,
      hypervisor: options.backends.hypervisor,
      metadata: options.backends.metadata,
      log: options.log,
    }
  }

  get hostId(): string {
    return this.options.identity.id
  }

  async start(): Promise<void> {
    const {identity, compute, capacity, backends, log} = this.options
    await backends.scheduler.registerHost({
      id: identity.id,
      name: identity.name,
      inventory: inventoryFrom(capacity, compute),
      traits: compute.traits,
    })
    // Out of scheduling until reconciled: what it already owes comes first.
    await backends.scheduler.setSchedulable(identity.id, false)
    await this.holdLiveness()
    const revision = await this.reconcile()
    await this.follow(revision)
    await backends.scheduler.setSchedulable(identity.id, true)
    this.checkTimer = setInterval(() => void this.checkGuests(), this.options.compute.guestCheckSeconds * 1000)
    log.info(`host ${identity.name} (${identity.id}) is schedulable; following assignments from revision ${revision}`)
  }

  /** Stop taking work, leave scheduling, let in-flight work finish or abandon it safely. */
  async stop(graceMs = this.options.compute.shutdownGraceSeconds * 1000): Promise<{finished: boolean}> {
    this.stopping = true
    clearInterval(this.checkTimer)
    const {backends, identity, log} = this.options
    await this.watch?.close().catch(() => undefined)
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

  /** Compare assignments with the hypervisor; queue what is owed. Returns the listing's revision. */
  private async reconcile(): Promise<string> {
    const {transport, hypervisor} = this.options.backends
    const [{items, revision}, guests] = await Promise.all([transport.list(keys.assignments(this.hostId)), hypervisor.list()])
    const assigned = new Set<string>()
    const defined = new Set(guests.filter((g) => g.defined).map((g) => g.id))
    for (const kv of items) {
      const assignment = JSON.parse(kv.value) as Assignment
      assigned.add(assignment.id)
      await this.reconcileOne(assignment, defined)
    }

    for (const guest of guests) {
      if (!assigned.has(guest.id)) {
        this.options.log.info(`removing guest ${guest.id}: no instance is assigned to it any more`)
        this.queue.push(guest.id, () => removeGuest(guest.id, this.host))
      }
    }

    return revision
  }

  private async reconcileOne(assignment: Assignment, guests: Set<string>): Promise<void> {
    const record = (await this.store.get(assignment.id))?.value
    if (!record) {
      this.queue.push(assignment.id, () => teardownInstance(assignment.id, this.host))
      return
    }

    if (assignment.op === 'delete' || record.state === 'DELETING') {
      this.queue.push(record.id, () => teardownInstance(record.id, this.host), {preempt: true})
    } else if (record.state === 'SCHEDULED') {
      this.queue.push(record.id, (signal) => buildInstance(record.id, this.host, signal))
    } else if (record.state === 'BUILDING') {
      if (record.buildAttempts >= MAX_BUILD_ATTEMPTS) {
        this.queue.push(record.id, () =>
          fail(record, record.step ?? 'accepted', `the agent stopped ${record.buildAttempts} times while building it`, this.host),
        )
      } else {
        this.options.log.info(`resuming the build of ${record.name} (${record.id}) interrupted at ${record.step}`)
        this.queue.push(record.id, (signal) => buildInstance(record.id, this.host, signal))
      }
    } else if (record.state === 'ACTIVE' && !guests.has(record.id)) {
      this.queue.push(record.id, () => this.guestVanished(record.id))
    }
  }

  private async follow(afterRevision: string): Promise<void> {
    this.watch = await this.options.backends.transport.watch(keys.assignments(this.hostId), {
      afterRevision,
      onEvents: (events) => {
        for (const event of events) this.handle(event)
      },
      onError: (error) => void this.recoverWatch(error),
    })
  }

  private handle(event: WatchEvent): void {
    if (this.stopping) return
    if (event.type === 'delete') {
      // Removed by a delete that found this host down: only the local side is left.
      const id = instanceIdOfAssignmentKey(event.key)
      if (id) this.queue.push(id, () => removeGuest(id, this.host), {preempt: true})
      return
    }

    const assignment = JSON.parse(event.kv.value) as Assignment
    if (assignment.op === 'delete') {
      this.queue.push(assignment.id, () => teardownInstance(assignment.id, this.host), {preempt: true})
    } else {
      this.queue.push(assignment.id, (signal) => buildInstance(assignment.id, this.host, signal))
    }
  }

  /** History we needed was compacted (or the watch broke): list again and follow from there. */
  private async recoverWatch(error: Error): Promise<void> {
    if (this.stopping) return
    this.options.log.warn(`assignment watch failed (${error.message}); reconciling again`)
    await this.watch?.close().catch(() => undefined)
    for (let delay = 500; !this.stopping; delay = Math.min(delay * 2, 10_000)) {
      try {
        await this.follow(await this.reconcile())
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
    const value = JSON.stringify({name: identity.name, pid: process.pid, since: now()})
    await transport.commit([], [{op: 'put', key: keys.alive(identity.id), value, lease: lease.id}])
    this.lease = lease
    void lease.lost.then(async () => {
      for (let delay = 500; !this.stopping; delay = Math.min(delay * 2, 10_000)) {
        try {
          this.options.log.warn('liveness lease lost; taking a new one')
          await this.holdLiveness()
          return
        } catch {
          await sleep(delay)
        }
      }
    })
  }

  /** ACTIVE instances whose guest is gone (destroyed outside ec) go to ERROR and free their claim. */
  private async checkGuests(): Promise<void> {
    if (this.stopping) return
    try {
      // Records first, guests second: an instance that turns ACTIVE after the
      // listing is not in the snapshot, so a build finishing meanwhile is never
      // mistaken for a vanished guest.
      const {items} = await this.options.backends.transport.list(keys.assignments(this.hostId))
      const active: string[] = []
      for (const kv of items) {
        const {id} = JSON.parse(kv.value) as Assignment
        if ((await this.store.get(id))?.value.state === 'ACTIVE') active.push(id)
      }

      const guests = await this.definedGuests()
      for (const id of active) if (!guests.has(id)) this.queue.push(id, () => this.guestVanished(id))
    } catch (error) {
      this.options.log.warn(`guest check failed: ${(error as Error).message}`)
    }
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
}
