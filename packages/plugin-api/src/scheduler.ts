// The scheduler decides which host gets an instance and holds the claim on
// that host's resources. First-party: Placement.
import type {Closable} from './backend.js'

/** What one provider must offer (Placement's request group). */
export interface RequestGroupFilter {
  /** Resource class → amount, e.g. {VCPU: 2, MEMORY_MB: 2048, DISK_GB: 10}. */
  resources: Record<string, number>
  requiredTraits: string[]
  forbiddenTraits: string[]
  /** Each inner list is "in any of these aggregates"; the lists are and-ed. */
  memberOf: string[][]
  /** In none of these aggregates. */
  forbiddenAggregates?: string[]
  /** Only providers in the tree of this provider (a host id). */
  inTree?: string
}

/** A suffixed request group: its resources come from one provider (say, one NUMA node). */
export interface RequestGroup extends RequestGroupFilter {
  /** "1", "_NUMA0": Placement's numbered or named suffix. */
  suffix: string
}

/** The unsuffixed group (resources may come from anywhere in a host's tree, or shared storage), plus more groups. */
export interface ResourceRequest extends RequestGroupFilter {
  groups?: RequestGroup[]
  /** Whether two suffixed groups may take from the same provider; Placement wants it with two or more. */
  groupPolicy?: 'isolate' | 'none'
  /** Traits the host (the root of the tree) must have, or must not. */
  rootRequiredTraits?: string[]
  rootForbiddenTraits?: string[]
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

/** A NUMA node of a host: a child provider holding that node's CPUs and memory. */
export interface NumaNodeRegistration {
  node: number
  inventory: Inventory[]
}

export interface HostRegistration {
  /** A stable id the host keeps across restarts; created when absent. */
  id?: string
  name: string
  /** The host provider's own inventory (with NUMA nodes: what is not per node, e.g. DISK_GB). */
  inventory: Inventory[]
  traits: string[]
  /**
   * The traits this host reported last time. Traits in it that are no longer
   * reported are removed; traits neither reported now nor then are someone
   * else's and are kept.
   */
  previousTraits?: string[]
  /** With NUMA nodes the host is the root of a tree with one child per node. */
  numaNodes?: NumaNodeRegistration[]
}

/** One resource provider of a host's tree, or a shared storage pool. */
export interface ProviderDetail {
  id: string
  name: string
  parentId?: string
  inventory: Inventory[]
  usage: Record<string, number>
  traits: string[]
  aggregates: string[]
}

export interface HostDetail extends HostIdentity {
  schedulable: boolean
  /** The host's provider first, then its children (NUMA nodes). */
  providers: ProviderDetail[]
  /** Storage pools shared with the host through its aggregates. */
  sharedStorage: ProviderDetail[]
}

/** Shared storage: a provider sharing its DISK_GB with the hosts in its aggregates (MISC_SHARES_VIA_AGGREGATE). */
export interface StorageRegistration {
  id: string
  name: string
  diskGb: number
  /** Aggregate names or uuids (a name stands for a uuid derived from it, as for hosts). */
  aggregates: string[]
}

export interface StorageDetail extends ProviderDetail {
  /** The ec hosts in any of its aggregates: the hosts it serves. */
  members: {id: string; name: string}[]
}

/** One way a request could be met: the host, and what each provider would give. */
export interface Candidate {
  hostId: string
  hostName: string
  providers: {id: string; name: string; resources: Record<string, number>}[]
}

export interface CandidatePreview {
  /** The query string of GET /allocation_candidates, exactly as it would be sent. */
  query: string
  candidates: Candidate[]
}

/** Adds and removals applied to a set (traits, aggregates); returns the resulting set. */
export interface SetChange {
  add?: string[]
  remove?: string[]
}

export interface HostIdentity {
  id: string
  name: string
  /** NUMA node number → its provider id, for hosts registered with nodes. */
  numaNodeIds?: Record<number, string>
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
  /** The totals claimed, by resource class. */
  allocations: Record<string, number>
  /**
   * What was claimed from each provider (the host, its NUMA nodes, shared
   * storage), as allocations() would answer right after the claim. ec keeps it
   * in the instance's record so that a build started promptly need not ask the
   * scheduler again; without it every build asks allocations().
   */
  byProvider?: Record<string, Record<string, number>>
}

export interface ClaimOptions {
  policy?: PlacementPolicy
  projectId?: string
  userId?: string
  signal?: AbortSignal
  /**
   * Only hosts this accepts may be claimed on (a server group's hard policy).
   * The candidate query is then not limited, so that a limit cannot hide the
   * hosts it accepts; when it accepts none of them the claim fails with reason
   * noCapacity.
   */
  accept?(hostId: string): boolean
  /**
   * Candidates are tried in this order (lower first) before the placement policy's (a server group's preference).
   * The candidate query is then not limited either, so that the preferred hosts are among the candidates.
   */
  prefer?(hostId: string): number
  /** Told when candidates arrive and when a claim is attempted, for progress display. */
  onStep?(step: 'candidates' | 'claim', detail: string): void
}

export interface SchedulerBackend extends Closable {
  /** Create or update the host's provider, inventory and traits. */
  registerHost(host: HostRegistration): Promise<HostIdentity>
  /** Take a host out of (or back into) scheduling without touching its allocations. */
  setSchedulable(hostId: string, schedulable: boolean): Promise<void>
  /** Delete the host from scheduling for good; reason conflict while it holds allocations. Idempotent. */
  removeHost(hostId: string): Promise<void>
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
  /** A host (by name or id): its providers, usage, traits, aggregates and the storage it reaches. */
  describeHost?(ref: string): Promise<HostDetail>
  /** Operator traits on a host's provider; traits the host reports itself are refused. */
  changeHostTraits?(ref: string, change: SetChange): Promise<string[]>
  changeHostAggregates?(ref: string, change: SetChange): Promise<string[]>
  /** The candidates a claim would choose from, and the query it would send; claims nothing. */
  previewCandidates?(request: ResourceRequest): Promise<CandidatePreview>
  /** Create shared storage; reason conflict when its name is taken. Nothing is left behind when it fails. */
  addStorage?(storage: StorageRegistration): Promise<StorageDetail>
  /** Every shared storage ec made, with capacity, usage and member hosts. */
  listStorage?(): Promise<StorageDetail[]>
  /** Shared storage by name or id; reason notFound otherwise. */
  describeStorage?(ref: string): Promise<StorageDetail>
  /** Delete shared storage; reason conflict while it holds allocations. Absent is success. */
  removeStorage?(id: string): Promise<void>
}
