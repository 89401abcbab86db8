// ec's ResourceRequest as the query string of GET /allocation_candidates:
// the unsuffixed group, suffixed groups (numbered or named, 1.33), group_policy,
// forbidden aggregates (1.32), in_tree, root_required (1.35), and ec's own
// markers — only ec hosts, never a disabled one — on the root of each tree.
import type {RequestGroupFilter, ResourceRequest} from '@ec/plugin-api'

import {aggregateId} from './aggregates.js'
import {PlacementBackendError} from './errors.js'
import {assertName, DISABLED_TRAIT, EC_HOST_TRAIT} from './names.js'

/** Placement's rule for a group suffix (1.33): a number, or letters, digits, "_" and "-". */
const SUFFIX = /^[a-zA-Z0-9_-]{1,64}$/

export interface QueryOptions {
  limit?: number
  /** Placement ≥ 1.35 takes root_required; older ones get ec's markers in the unsuffixed group. */
  rootRequired: boolean
}

export function candidateParams(request: ResourceRequest, options: QueryOptions): URLSearchParams {
  validateRequest(request)
  if (options.rootRequired) request = withLoneClassInItsOwnGroup(request)
  const params = new URLSearchParams()
  const markers = [EC_HOST_TRAIT, `!${DISABLED_TRAIT}`]
  const rootTraits = [...(request.rootRequiredTraits ?? []), ...(request.rootForbiddenTraits ?? []).map((t) => `!${t}`)]
  appendGroup(params, '', request, options.rootRequired ? [] : [...markers, ...rootTraits])
  for (const group of request.groups ?? []) appendGroup(params, group.suffix, group, [])
  if (request.groupPolicy) params.append('group_policy', request.groupPolicy)
  if (options.rootRequired) params.append('root_required', [...markers, ...rootTraits].join(','))
  if (options.limit !== undefined) params.append('limit', String(options.limit))
  return params
}

/** The suffix a lone unsuffixed resource class moves to (see below). */
export const LONE_CLASS_GROUP = '_DISK'
const PER_NODE = new Set(['VCPU', 'MEMORY_MB'])

/**
 * Placement 8.0 drops candidates when the unsuffixed group can be met by a
 * sharing provider alone (say, only DISK_GB, with VCPU and memory in a NUMA
 * group): its AllocationRequest equality ignores the anchor, so the shared
 * disk's requests for every host in its aggregate collapse into one, and only
 * one (arbitrary) host is offered — or none, when that one is full. A
 * suffixed group is built per anchor and does not collapse, so an unsuffixed
 * group that is nothing but one resource class is sent as a suffixed group
 * of its own: one class comes from one provider either way. Not done when it
 * would change the answer: with traits, aggregates or in_tree on the
 * unsuffixed group, or under group_policy=isolate unless every other group
 * asks for VCPU/memory only and there are two or more of them (ec's split
 * over NUMA nodes, which only NUMA children can give, never a disk's provider).
 */
export function withLoneClassInItsOwnGroup(request: ResourceRequest): ResourceRequest {
  const groups = request.groups ?? []
  const classes = Object.keys(request.resources)
  const bare = request.requiredTraits.length === 0 && request.forbiddenTraits.length === 0 && request.memberOf.every((anyOf) => anyOf.length === 0) &&
    !request.forbiddenAggregates?.length && !request.inTree
  if (groups.length === 0 || classes.length !== 1 || !bare || groups.some((g) => g.suffix === LONE_CLASS_GROUP)) return request
  const isolateSafe = groups.length >= 2 && groups.every((g) => Object.keys(g.resources).length > 0 && Object.keys(g.resources).every((rc) => PER_NODE.has(rc)))
  if (request.groupPolicy === 'isolate' && !isolateSafe) return request
  return {
    ...request,
    resources: {},
    groups: [...groups, {suffix: LONE_CLASS_GROUP, resources: {...request.resources}, requiredTraits: [], forbiddenTraits: [], memberOf: []}],
    groupPolicy: request.groupPolicy ?? 'none',
  }
}

function appendGroup(params: URLSearchParams, suffix: string, group: RequestGroupFilter, extraRequired: string[]): void {
  const resources = Object.entries(group.resources)
  if (resources.length > 0) params.append(`resources${suffix}`, resources.map(([rc, amount]) => `${rc}:${amount}`).join(','))
  const required = [...group.requiredTraits, ...group.forbiddenTraits.map((t) => `!${t}`), ...extraRequired]
  if (required.length > 0) params.append(`required${suffix}`, required.join(','))
  for (const anyOf of group.memberOf) {
    if (anyOf.length > 0) params.append(`member_of${suffix}`, `in:${anyOf.map(aggregateId).join(',')}`)
  }

  if (group.forbiddenAggregates?.length) params.append(`member_of${suffix}`, `!in:${group.forbiddenAggregates.map(aggregateId).join(',')}`)
  if (group.inTree) params.append(`in_tree${suffix}`, group.inTree)
}

/** Typos are reported as such, before Placement answers them with a bare 400. */
export function validateRequest(request: ResourceRequest): void {
  const groups: [string, RequestGroupFilter][] = [['', request], ...(request.groups ?? []).map((g) => [g.suffix, g] as [string, RequestGroupFilter])]
  if (groups.every(([, g]) => Object.keys(g.resources).length === 0)) {
    throw new PlacementBackendError('usage', 'a claim must ask for at least one resource')
  }

  const suffixes = new Set<string>()
  for (const [suffix, group] of groups) {
    const where = suffix ? ` in group ${suffix}` : ''
    if (suffix !== '' || suffixes.size > 0) {
      if (!SUFFIX.test(suffix)) throw new PlacementBackendError('usage', `group name "${suffix}" is not valid: use 1-64 letters, digits, "_" or "-"`)
      if (suffixes.has(suffix)) throw new PlacementBackendError('usage', `group ${suffix} is given twice`)
    }

    suffixes.add(suffix)
    for (const [rc, amount] of Object.entries(group.resources)) {
      assertName(rc, 'resource class')
      if (!Number.isInteger(amount) || amount < 1) {
        throw new PlacementBackendError('usage', `${rc}${where} must be a whole number of at least 1, not ${amount}`)
      }
    }

    for (const trait of [...group.requiredTraits, ...group.forbiddenTraits]) assertName(trait, 'trait')
    for (const aggregate of [...group.memberOf.flat(), ...(group.forbiddenAggregates ?? [])]) aggregateId(aggregate)
    const both = group.requiredTraits.filter((trait) => group.forbiddenTraits.includes(trait))
    if (both.length > 0) throw new PlacementBackendError('usage', `traits both required and forbidden${where}: ${both.join(', ')}`)
  }

  for (const trait of [...(request.rootRequiredTraits ?? []), ...(request.rootForbiddenTraits ?? [])]) assertName(trait, 'root trait')
  if ((request.groups?.length ?? 0) > 1 && !request.groupPolicy) {
    throw new PlacementBackendError('usage', 'two or more groups need a group policy: isolate (each from its own provider) or none')
  }
}
