// An instance's record, as stored under instances/<id>, and the state machine
// it moves through. One owner per transition: `ec instance create` up to
// SCHEDULED, the host agent after it; a delete may interrupt any state.
import type {DiskStrategy, ImageSource, PortForward, PortRequest, ResourceRequest} from '@ec/plugin-api'

/** An instance id (and any uuid ec reads, e.g. an aggregate): the canonical dashed form. */
export const UUID = /^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$/i

export const INSTANCE_STATES = ['PENDING', 'SCHEDULED', 'BUILDING', 'ACTIVE', 'DELETING', 'ERROR'] as const
export type InstanceState = (typeof INSTANCE_STATES)[number]

/** Every step `ec instance create --wait` shows, in order. */
export const STEPS = ['candidates', 'claim', 'notify', 'accepted', 'image', 'disk', 'define', 'boot', 'guest'] as const
export type Step = (typeof STEPS)[number]

export interface InstanceSpec {
  vcpus: number
  memoryMb: number
  diskGb: number
  /** Resource class → amount as claimed (VCPU, MEMORY_MB, DISK_GB and any custom class). */
  resources: Record<string, number>
  requiredTraits: string[]
  forbiddenTraits: string[]
  memberOf: string[][]
  /** The scheduler request with its groups (NUMA nodes, disk); the fields above are its totals. */
  request?: ResourceRequest
  image: ImageSource
  flavor?: string
  diskStrategy?: DiskStrategy
  /** What the guest gets through the metadata backend. */
  publicKeys: string[]
  userData?: string
  meta: Record<string, string>
  /** --publish: host ports forwarded to guest ports. */
  publish?: PortRequest[]
  /** The user `ec instance ssh` logs in as (images.<name>.user, default debian). */
  user?: string
  /** The first --key-file (absolute): the private key beside it is ssh's default identity. */
  keyFile?: string
  /** The server group it is a member of (ec group), by name. */
  group?: string
}

export interface StepTimes {
  started: string
  finished?: string
  percent?: number
  message?: string
}

export interface InstanceRecord {
  id: string
  name: string
  state: InstanceState
  spec: InstanceSpec
  host?: {id: string; name: string}
  allocations?: Record<string, number>
  /**
   * The claim per provider as create made it (Claim.byProvider), when the
   * scheduler tells: the agent builds from it instead of asking the scheduler
   * again, unless the build waited (see agent/claim-check.ts).
   */
  allocationsByProvider?: Record<string, Record<string, number>>
  /** The step in progress (or the last one reached). */
  step?: Step
  steps: Partial<Record<Step, StepTimes>>
  /** The guest's own address (its report, or the hypervisor's lease); never a NAT'd source address. */
  address?: string
  /** Host ports forwarded into the guest (user networking): SSH's, and --publish's. */
  ports?: PortForward[]
  /** The guest's SSH host public keys, from its phone-home: `ec instance ssh` trusts only these. */
  hostKeys?: string[]
  error?: {reason: string; step?: Step; at: string}
  /** How many times an agent started building it (a restart mid-build resumes once, then fails). */
  buildAttempts: number
  /** Who is scheduling a PENDING record, and until when; past it the record is stale. */
  scheduling?: {by: string; deadline: string}
  createdAt: string
  updatedAt: string
}

const ALLOWED: Record<InstanceState, readonly InstanceState[]> = {
  PENDING: ['SCHEDULED', 'ERROR', 'DELETING'],
  SCHEDULED: ['BUILDING', 'ERROR', 'DELETING'],
  BUILDING: ['BUILDING', 'ACTIVE', 'ERROR', 'DELETING'],
  ACTIVE: ['ERROR', 'DELETING'],
  ERROR: ['DELETING'],
  DELETING: ['DELETING'],
}

export function canTransition(from: InstanceState, to: InstanceState): boolean {
  return from === to || ALLOWED[from].includes(to)
}

export function now(): string {
  return new Date().toISOString()
}

/** The record once its claim is released: the allocations and their split by provider go together. */
export function withoutClaim(record: InstanceRecord): InstanceRecord {
  return {...record, allocations: undefined, allocationsByProvider: undefined}
}

/**
 * The value of hosts/<host>/guests: what the host's hypervisor had at `at`,
 * so `ec audit` can compare guests with records and allocations without
 * reaching into the host.
 */
export interface GuestInventory {
  at: string
  guests: Array<{id: string; name: string; state: string; defined: boolean}>
}

/** The value of hosts/<host>/assigned/<id>: what the host's agent must do. */
export interface Assignment {
  id: string
  op: 'build' | 'delete'
  at: string
}
