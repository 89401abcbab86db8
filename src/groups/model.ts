// Server groups: instances that must (or should) share a host, or stay apart.
// One key per group, groups/<name>, holds the policy and the membership
// (instance id → host). Joining is written in the same etcd transaction that
// moves the instance to SCHEDULED, guarded by the group key's mod revision,
// so two creates deciding on the same group state cannot both commit: the
// loser re-reads, re-decides, and if its host is no longer allowed, releases
// its claim and schedules again. This file is pure: the rules, no I/O.
import {EcError} from '../errors.js'
import type {InstanceRecord} from '../instances/model.js'
import {quote} from '../output/escape.js'

export const GROUP_POLICIES = ['affinity', 'anti-affinity'] as const
export type GroupPolicy = (typeof GROUP_POLICIES)[number]

export interface GroupMember {
  host: {id: string; name: string}
  /** The instance's name when it joined (shown by `ec group show` even after the record is gone). */
  name: string
  at: string
}

export interface GroupRecord {
  id: string
  name: string
  policy: GroupPolicy
  /** Soft: prefer (order candidates), never refuse. */
  soft: boolean
  /** anti-affinity: at most this many members on one host (default 1). */
  maxPerHost?: number
  /** Instance id → where it runs. */
  members: Record<string, GroupMember>
  createdAt: string
}

export const groupKeys = {
  group: (name: string) => `groups/${name}`,
  groups: () => 'groups/',
} as const

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

export function validateGroupName(name: string): string {
  if (!NAME.test(name)) {
    throw new EcError('usage', `group name ${quote(name)} is not valid; use 1-63 lower-case letters, digits and dashes, starting and ending with a letter or digit`)
  }

  return name
}

/** "anti-affinity, at most 2 per host, soft" */
export function describePolicy(group: Pick<GroupRecord, 'policy' | 'soft' | 'maxPerHost'>): string {
  const parts: string[] = [group.policy]
  if (group.policy === 'anti-affinity') parts.push(`at most ${group.maxPerHost ?? 1} per host`)
  parts.push(group.soft ? 'soft' : 'hard')
  return parts.join(', ')
}

/**
 * Whether a member still takes its place in the group: its record exists and
 * is not ERROR. A record that is gone never comes back (ids are not reused)
 * and ERROR only goes on to DELETING, so a member found not counting stays so.
 */
export function counts(record: InstanceRecord | undefined): boolean {
  return record !== undefined && record.state !== 'ERROR'
}

/** Member ids by host id. */
export function membersByHost(group: GroupRecord): Map<string, string[]> {
  const byHost = new Map<string, string[]>()
  for (const [id, member] of Object.entries(group.members)) {
    const list = byHost.get(member.host.id) ?? []
    list.push(id)
    byHost.set(member.host.id, list)
  }

  return byHost
}

/**
 * Where a hard policy lets a new member go, given which members count
 * (`live`): `anchor` (affinity: the host of the counting members) and
 * `full` (anti-affinity: hosts that have their maximum). Soft policies
 * restrict nothing.
 */
export interface Allowed {
  anchor?: string
  full: Set<string>
}

export function allowedHosts(group: GroupRecord, live: (id: string) => boolean): Allowed {
  const allowed: Allowed = {full: new Set()}
  if (group.soft) return allowed
  for (const [host, ids] of membersByHost(group)) {
    const counting = ids.filter((id) => live(id)).length
    if (counting === 0) continue
    if (group.policy === 'affinity') allowed.anchor ??= host
    else if (counting >= (group.maxPerHost ?? 1)) allowed.full.add(host)
  }

  return allowed
}

export function admits(allowed: Allowed, hostId: string): boolean {
  if (allowed.anchor !== undefined && allowed.anchor !== hostId) return false
  return !allowed.full.has(hostId)
}

/**
 * The decision the join's compare-and-swap rests on: may one more member go
 * to `hostId`? Affinity: no counting member is on another host. Anti-affinity:
 * fewer than the maximum count on this one. Soft policies always admit.
 */
export function admitsHost(group: GroupRecord, hostId: string, live: (id: string) => boolean): boolean {
  if (group.soft) return true
  const members = Object.entries(group.members)
  if (group.policy === 'affinity') return members.every(([id, m]) => m.host.id === hostId || !live(id))
  return members.filter(([id, m]) => m.host.id === hostId && live(id)).length < (group.maxPerHost ?? 1)
}

/**
 * Candidate order for a group (lower first, before the placement policy):
 * anti-affinity prefers hosts with fewer members (hosts at the maximum last),
 * affinity prefers hosts with more.
 *
 * Anti-affinity breaks ties between hosts with as many members at random
 * (`random`, fixed per host for one decision): creates that read the group at
 * the same moment then claim on different hosts, instead of all claiming the
 * placement policy's first host, of which only one can join and every other
 * must release and schedule again — a round of Placement requests per member
 * that Placement serves one at a time. Affinity keeps the policy's order:
 * there, creates that agree on one host all join.
 */
export function preference(group: GroupRecord, random: () => number = Math.random): (hostId: string) => number {
  const byHost = membersByHost(group)
  const max = group.maxPerHost ?? 1
  const jitter = new Map<string, number>()
  return (hostId) => {
    const n = byHost.get(hostId)?.length ?? 0
    if (group.policy === 'affinity') return -n
    let tie = jitter.get(hostId)
    if (tie === undefined) jitter.set(hostId, (tie = random()))
    return (n >= max ? 1_000_000 + n : n) + tie
  }
}

/** The members the decision for `hostId` depends on: only they need their records read. */
export function relevantMembers(group: GroupRecord, hostId?: string): string[] {
  if (group.soft) return []
  const byHost = membersByHost(group)
  if (group.policy === 'affinity') {
    // Members elsewhere would anchor the group on another host.
    return [...byHost].filter(([host]) => host !== hostId).flatMap(([, ids]) => ids)
  }

  const max = group.maxPerHost ?? 1
  // Only hosts at their maximum by the raw count can be full.
  return [...byHost].filter(([host, ids]) => (hostId === undefined || host === hostId) && ids.length >= max).flatMap(([, ids]) => ids)
}

/** Why `hostName` was refused (after the compare-and-swap showed another member got there first). */
export function refusalMessage(group: GroupRecord, hostName: string): string {
  const where = group.policy === 'affinity'
    ? `its members run on ${[...new Set(Object.values(group.members).map((m) => m.host.name))].join(', ')}`
    : `${hostName} has its maximum of members`
  return `group ${quote(group.name)} (${describePolicy(group)}): ${where}`
}
