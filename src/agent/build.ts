// The agent's two operations on one instance. Every step is written to the
// instance record as it starts (quick ones together: build-record.ts), so
// `ec instance create --wait` can show it.
import {EcError} from '../errors.js'
import {keys} from '../instances/keys.js'
import {type InstanceRecord, now, type Step, withoutClaim} from '../instances/model.js'
import type {InstanceStore} from '../instances/store.js'
import {waitOutStalls} from '../retry.js'
import {BuildRecord} from './build-record.js'
import {freshClaim} from './claim-check.js'
import {failpoint, pausepoint} from './failpoints.js'
import type {PhoneHomes} from './phone-homes.js'
import type {
  Logger,
  BuildPhase,
  GuestNumaCell,
  GuestSpec,
  HypervisorBackend,
  HypervisorCapabilities,
  ImageInfo,
  PortForward,
  PortRequest,
  PortTakenError,
  PreparedDisk,
  MetadataBackend,
  SchedulerBackend,
} from '@ec/plugin-api'

export interface HostServices {
  hostId: string
  /** Reports from guests, when a metadata backend can receive them. */
  phoneHomes?: PhoneHomes
  guestReadyTimeoutMs: number
  store: InstanceStore
  scheduler: SchedulerBackend
  hypervisor: HypervisorBackend
  /** What the hypervisor said it can do (describeHost): a build asks for nothing else. */
  capabilities: HypervisorCapabilities
  metadata?: MetadataBackend
  log: Logger
  /** The NUMA cells the instance's allocation (by provider id) places it in (hosts with NUMA nodes). */
  numaCells?(id: string, allocations: Record<string, Record<string, number>>): GuestNumaCell[] | undefined
  /** Where the disk goes when the allocation takes DISK_GB from shared storage (by provider id); undefined: the host's own place. */
  storageDir?(id: string, allocations: Record<string, Record<string, number>>): Promise<string | undefined>
  /** A guest is gone: publish what runs now, before its record changes, so `ec audit` never sees the old listing beside the new record. Never throws. */
  guestRemoved?(): Promise<void>
}

/** A build started more often than this (agent restarts, or failures it could not record) fails instead of resuming. */
export const MAX_BUILD_ATTEMPTS = 2

/** How long the agent waits out a scheduler that does not answer before a build gives up. */
const SCHEDULER_STALL_BUDGET_MS = 30_000

/** How often a build picks new ports when other programs keep taking the ones it was given before its guest starts. */
export const MAX_PORT_REPICKS = 3

/** Raised inside a build when its record no longer wants it (a delete arrived). */
class Superseded extends Error {}

export async function buildInstance(id: string, host: HostServices, signal: AbortSignal): Promise<void> {
  // Accepting is written at once (it decides who owns the build); it also starts the image step.
  const accepted = await host.store.update(id, (record) => {
    if (record.state !== 'SCHEDULED' && record.state !== 'BUILDING') return undefined
    const at = now()
    record.state = 'BUILDING'
    record.buildAttempts += 1
    record.steps.accepted = {started: at, finished: at}
    record.step = 'image'
    record.steps.image = {started: at}
    return record
  })
  if (!accepted) return
  failpoint('accepted')
  const record = accepted.value
  if (record.buildAttempts > MAX_BUILD_ATTEMPTS) {
    await fail(record, 'accepted', `its build was interrupted ${MAX_BUILD_ATTEMPTS} times (agent restarts or failures it could not record)`, host)
    return
  }

  // No guest starts without its allocation: one released while the build
  // waited (by an operator or another tool; ec's own releases move the record
  // first, so the accept above refuses them) ends the build here rather than
  // over-committing the host. A prompt first build trusts its claim
  // (claim-check.ts).
  const held =
    freshClaim(record) ??
    (await waitOutStalls(() => host.scheduler.allocations(id), {budgetMs: SCHEDULER_STALL_BUDGET_MS}).catch((error: unknown) => error as Error))
  if (held instanceof Error || Object.keys(held).length === 0) {
    const why = held instanceof Error ? `its allocation could not be checked: ${held.message}` : 'it holds no allocation in the scheduler any more (released while it waited)'
    await fail(record, 'accepted', why, host)
    return
  }

  const written = new BuildRecord(host.store, accepted)
  let step: Step = 'image'
  const begin = (phase: BuildPhase) => {
    if (signal.aborted || written.superseded) throw new Superseded()
    failpoint(phase)
    step = phase
    const at = now() // when the step starts, not when its write goes out
    written.apply((r) => startStep(r, phase, at))
  }

  /** Write the record's ports before the guest is (re)defined with them, and stop if a delete superseded the build. */
  const recordPorts = async (forwards: PortForward[]) => {
    written.apply((r) => void (r.ports = forwards))
    await written.flush()
    if (written.superseded) throw new Superseded()
  }

  const report = ({phase, percent, message}: {phase: BuildPhase; percent?: number; message?: string}) => {
    written.apply((r) => {
      const times = r.steps[phase]
      if (times && !times.finished) Object.assign(times, {percent, message})
    })
  }

  // The guest's data does not depend on its disk: publish it while image and disk are prepared.
  const {publicKeys = [], userData, meta = {}} = record.spec // records from before these fields
  const macAddress = host.hypervisor.macAddress?.(id)
  const publishing = host.metadata?.publish({instanceId: id, hostname: record.name, publicKeys, userData, meta, macAddress})
  publishing?.catch(() => undefined) // awaited, and its failure reported, at the define step

  try {
    failpoint('image')
    const image: ImageInfo = await host.hypervisor.ensureImage(record.spec.image, report, signal)
    const guest: GuestSpec = {
      id,
      name: record.name,
      vcpus: record.spec.vcpus,
      memoryMb: record.spec.memoryMb,
      diskGb: record.spec.diskGb,
      image: record.spec.image,
      diskStrategy: record.spec.diskStrategy,
    }
    begin('disk')
    const storageDir = await host.storageDir?.(id, held)
    if (storageDir) guest.storageDir = storageDir
    const strategies = host.capabilities.diskStrategies
    if (guest.diskStrategy && !strategies.includes(guest.diskStrategy)) {
      throw new EcError('config', `this host's hypervisor cannot prepare a ${guest.diskStrategy} disk (it can: ${strategies.join(', ')}); create the instance with another --disk-strategy`)
    }

    const disk: PreparedDisk = await host.hypervisor.prepareDisk(guest, image, report)
    begin('define')
    guest.numa = host.numaCells?.(id, held)
    if (publishing) {
      const published = await publishing
      guest.smbios = wired(published.smbios, host.capabilities.smbios, 'pass SMBIOS fields to guests')
      const cdroms = published.attachments.filter((a) => a.type === 'cdrom')
      wired(cdroms.length > 0 ? cdroms : undefined, host.capabilities.cdrom, 'attach a CD-ROM')
      guest.attachments = published.attachments
    }

    // A resumed build keeps the ports it was given; they are in the record before the guest can use them.
    if (!host.capabilities.portForwarding && (record.spec.publish?.length ?? 0) > 0) {
      throw new EcError('config', `this host's hypervisor cannot forward ports into guests; create the instance without --publish`)
    }

    if (host.capabilities.portForwarding && host.hypervisor.forwardPorts) {
      const forwards = record.ports ?? (await host.hypervisor.forwardPorts(id, record.spec.publish ?? []))
      guest.forwards = forwards
      if (!record.ports && forwards.length > 0) await recordPorts(forwards)
    }

    await host.hypervisor.define(guest, disk)
    begin('boot')
    await pausepoint('boot')
    for (let repicks = 0; ; repicks++) {
      try {
        await host.hypervisor.start(id)
        break
      } catch (error) {
        const taken = takenPortOf(error)
        if (!taken || !host.hypervisor.forwardPorts) throw error
        const publish = record.spec.publish ?? []
        // A port the user chose cannot move; one ec picked can.
        const chosen = chosenBy(publish, taken.takenPort)
        if (chosen) {
          throw new Error(
            `host port ${taken.takenPort.host}/${chosen.proto} (--publish ${chosen.host}:${chosen.guest}/${chosen.proto}) was taken by another program before the guest started; publish on another HOST_PORT, or 0 for any free one`,
            {cause: error},
          )
        }

        if (repicks >= MAX_PORT_REPICKS) throw new Error(`${taken.message}, and so were the ${MAX_PORT_REPICKS} ports picked after it`, {cause: error})
        host.log.warn(`${record.name} (${id}): ${taken.message}; picking another`)
        const forwards = await host.hypervisor.forwardPorts(id, publish)
        guest.forwards = forwards
        await recordPorts(forwards)
        await host.hypervisor.define(guest, disk)
      }
    }

    begin('guest')
    // Ready when the guest reports in; where it cannot (no metadata service, a config drive), when it runs.
    const reportedIn = host.phoneHomes ? await host.phoneHomes.wait(id, host.guestReadyTimeoutMs, signal) : undefined
    const addresses = await host.hypervisor.guestAddresses(id)
    const ready = now()
    written.apply((r) => {
      r.state = 'ACTIVE'
      r.steps.guest = {...r.steps.guest!, finished: ready}
      r.address = reportedIn?.address ?? addresses[0] ?? r.address
      if (reportedIn?.hostKeys?.length) r.hostKeys = reportedIn.hostKeys
    })
    await written.flush()
    failpoint('active')
    if (written.superseded || written.value.state !== 'ACTIVE') throw new Superseded()
    host.log.info(`${record.name} (${id}) is ACTIVE`)
  } catch (error) {
    if (error instanceof Superseded || signal.aborted || written.superseded) return // the delete that superseded it cleans up
    await written.flush().catch(() => undefined)
    await fail(record, step, (error as Error).message, host)
  }
}

/** What the metadata backend needs wired into the guest, if the hypervisor can; else a config error that says what to do. */
function wired<T>(needed: T | undefined, capable: boolean, what: string): T | undefined {
  if (needed === undefined || capable) return needed
  throw new EcError('config', `this host's hypervisor cannot ${what}, which the metadata backend needs; choose another backends.metadata (mdserver needs SMBIOS, configdrive a CD-ROM)`)
}

/** The start failed because a forwarded host port was taken (the hypervisor's PortTakenError). */
function takenPortOf(error: unknown): PortTakenError | undefined {
  const taken = (error as Partial<PortTakenError> | undefined)?.takenPort
  return error instanceof Error && typeof taken?.host === 'string' ? (error as PortTakenError) : undefined
}

/** The --publish request that asked for exactly this host port, if the user chose it. */
function chosenBy(publish: PortRequest[], taken: PortTakenError['takenPort']): PortRequest | undefined {
  const port = Number(taken.host.slice(taken.host.lastIndexOf(':') + 1))
  return publish.find((request) => request.host !== 0 && request.host === port && request.proto === taken.proto)
}

/** Finish the step in progress and start `step`, both at `at`. */
function startStep(record: InstanceRecord, step: BuildPhase, at: string): void {
  const previous = record.step ? record.steps[record.step] : undefined
  if (previous && !previous.finished) previous.finished = at
  record.step = step
  record.steps[step] = {started: at}
}

/** Tear the guest down, release the claim and drop the keys, in that order (a failure leaves it to the next resync). Idempotent. */
export async function teardownInstance(id: string, host: HostServices): Promise<void> {
  await removeGuest(id, host)
  await waitOutStalls(() => host.scheduler.release(id), {budgetMs: SCHEDULER_STALL_BUDGET_MS})
  const current = await host.store.get(id)
  if (current) await host.store.remove(current.value)
  else await host.store.commit([], [{op: 'delete', key: keys.assignment(host.hostId, id)}])
  host.log.info(`${current?.value.name ?? id} (${id}) deleted`)
}

/** Only the local side: domain, disk, metadata. For guests whose record is already gone. */
export async function removeGuest(id: string, host: HostServices): Promise<void> {
  await host.hypervisor.destroy(id)
  await host.metadata?.unpublish(id)
  host.phoneHomes?.forget(id)
  await host.guestRemoved?.()
}

/**
 * A failed build keeps no guest and holds no resources: the record stays, in
 * ERROR with the reason, until the user deletes it. The order keeps the
 * allocation with its record: the guest goes first, then the record says
 * ERROR, and only then is the claim released. If the record cannot be
 * written, the claim is kept and the build stays BUILDING, which the next
 * resync resumes (its allocation still held); if the release fails, the
 * resync releases what an ERROR instance still holds.
 */
export async function fail(record: InstanceRecord, step: Step, reason: string, host: HostServices): Promise<void> {
  host.log.warn(`${record.name} (${record.id}) failed at ${step}: ${reason}`)
  await removeGuest(record.id, host)
  const failed = await host.store.update(record.id, (r) => {
    if (r.state === 'DELETING' || r.state === 'ERROR') return undefined
    return {...withoutClaim(r), state: 'ERROR', error: {reason, step, at: now()}}
  })
  if (failed) await waitOutStalls(() => host.scheduler.release(record.id), {budgetMs: SCHEDULER_STALL_BUDGET_MS})
}
