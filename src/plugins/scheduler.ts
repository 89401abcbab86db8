// The scheduler decides which host gets an instance and holds the claim on
// that host's resources. First-party: Placement.
import type {Closable} from './backend.js'

export interface ResourceRequest {
  /** Resource class → amount, e.g. {VCPU: 2, MEMORY_MB: 2048, DISK_GB: 10}. */
  resources: Record<string, number>
  requiredTraits: string[]
  forbiddenTraits: string[]
  /** Each inner list is "in any of these aggregates"; the lists are and-ed. */
  memberOf: string[][]
}

export type PlacementPolicy = 'pack' | 'spread'

export interface Inventory {
  resourceClass: string
  total: number
  reserved: number
  allocationRatio: number
  minUnit?: number
  maxUnit?: number
  stepSize?: number
}

export interface HostRegistration {
  /** A stable id the host keeps across restarts; created when absent. */
  id?: string
  name: string
  inventory: Inventory[]
  traits: string[]
}

export interface HostIdentity {
  id: string
  name: string
}

export interface HostUsage extends HostIdentity {
  inventory: Inventory[]
  usage: Record<string, number>
  traits: string[]
  schedulable: boolean
}

export interface Claim {
  consumerId: string
  hostId: string
  hostName: string
  allocations: Record<string, number>
  /** How many candidates were tried before one held (1 = first try). */
  attempts: number
}

export interface ClaimOptions {
  policy?: PlacementPolicy
  projectId?: string
  userId?: string
  signal?: AbortSignal
  /** Told when candidates arrive and when a claim is attempted, for progress display. */
  onStep?(step: 'candidates' | 'claim', detail: string): void
}

export interface SchedulerBackend extends Closable {
  /** Create or update the host's provider, inventory and traits. */
  registerHost(host: HostRegistration): Promise<HostIdentity>
  /** Take a host out of (or back into) scheduling without touching its allocations. */
  setSchedulable(hostId: string, schedulable: boolean): Promise<void>
  /** Find candidates and claim one atomically; throws with exit code noCapacity when none fits. */
  claim(consumerId: string, request: ResourceRequest, options?: ClaimOptions): Promise<Claim>
  /** Release every allocation of the consumer. Idempotent. */
  release(consumerId: string): Promise<void>
  /** Current allocations of a consumer, by host id. */
  allocations(consumerId: string): Promise<Record<string, Record<string, number>>>
  /**
   * What every consumer holds on the host (its provider and any provider in
   * its tree), by consumer id: one listing for an agent's or an audit's
   * check that no guest runs without its allocation.
   */
  hostAllocations(hostId: string): Promise<Record<string, Record<string, number>>>
  listHosts(): Promise<HostUsage[]>
}
