// Orders allocation candidates by policy. Pure: works on the documents
// GET /allocation_candidates returned, so it needs no further round trip.
import type {PlacementPolicy} from '@ec/plugin-api'

import {EC_HOST_TRAIT} from './names.js'
import type {AllocationCandidates, AllocationRequest, ProviderSummary} from './wire.js'

export interface RankedCandidate {
  /** The ec host the claim lands on. */
  hostId: string
  /** Resources per provider uuid, as PUT /allocations takes them. */
  allocations: Record<string, Record<string, number>>
  /** What the claim takes in all, by resource class. */
  resources: Record<string, number>
  /** 0 (idle) … 1 (full) in the resource classes the request consumes. */
  utilization: number
}

/**
 * 'pack' tries the fullest host first (keeps whole hosts free for big
 * requests), 'spread' the emptiest (keeps load even). Equals come in random
 * order so that concurrent claimers do not all race for the same host.
 */
export function rankCandidates(
  candidates: AllocationCandidates,
  policy: PlacementPolicy,
  random: () => number = Math.random,
): RankedCandidate[] {
  const anchored = candidates.allocation_requests
    // A request met by shared storage alone names no host to run on.
    .filter((request) => anchoredToHost(request, candidates.provider_summaries))
  const ranked = preferOwnProviders(anchored, candidates.provider_summaries).map((request) => toRanked(request, candidates.provider_summaries))
  shuffle(ranked, random)
  const direction = policy === 'pack' ? -1 : 1
  // Array.prototype.sort is stable, so the shuffle decides among equals.
  return ranked.sort((a, b) => direction * (quantize(a.utilization) - quantize(b.utilization)))
}

/**
 * Where a host could give everything itself, its candidates that draw on
 * shared storage are dropped: shared disk serves hosts without (enough) disk
 * of their own, and requests that ask for it (--disk-from shared, which
 * Placement then answers with shared candidates only).
 */
export function preferOwnProviders(requests: AllocationRequest[], summaries: Record<string, ProviderSummary>): AllocationRequest[] {
  const hostOfRequest = new Map(requests.map((request) => [request, hostOf(request, summaries)]))
  const shares = (request: AllocationRequest) =>
    Object.keys(request.allocations).some((provider) => (summaries[provider]?.root_provider_uuid ?? provider) !== hostOfRequest.get(request))
  const selfSufficient = new Set(requests.filter((request) => !shares(request)).map((request) => hostOfRequest.get(request)))
  return requests.filter((request) => !shares(request) || !selfSufficient.has(hostOfRequest.get(request)))
}

function toRanked(request: AllocationRequest, summaries: Record<string, ProviderSummary>): RankedCandidate {
  const allocations: Record<string, Record<string, number>> = {}
  const resources: Record<string, number> = {}
  for (const [provider, {resources: taken}] of Object.entries(request.allocations)) {
    allocations[provider] = {...taken}
    for (const [rc, amount] of Object.entries(taken)) resources[rc] = (resources[rc] ?? 0) + amount
  }

  return {hostId: hostOf(request, summaries), allocations, resources, utilization: utilizationOf(request, summaries)}
}

/**
 * The provider that is the ec host. A candidate can span providers (say, a
 * sharing disk pool next to the host, or NUMA nodes under it); the host is
 * the one with the ec trait, or the root of a provider's tree that has it.
 */
export function hostOf(request: AllocationRequest, summaries: Record<string, ProviderSummary>): string {
  const providers = Object.keys(request.allocations)
  const isHost = (uuid: string | undefined) => uuid !== undefined && summaries[uuid]?.traits?.includes(EC_HOST_TRAIT)
  const host = providers.find((uuid) => isHost(uuid))
  if (host) return host
  // A NUMA node's root is the host; a shared disk's root is itself, which is not.
  const root = providers.map((uuid) => summaries[uuid]?.root_provider_uuid).find((uuid) => isHost(uuid))
  return root ?? summaries[providers[0]]?.root_provider_uuid ?? providers[0]
}

function anchoredToHost(request: AllocationRequest, summaries: Record<string, ProviderSummary>): boolean {
  return summaries[hostOf(request, summaries)]?.traits?.includes(EC_HOST_TRAIT) ?? false
}

/** Mean used/capacity over every (provider, resource class) the candidate takes from. */
export function utilizationOf(request: AllocationRequest, summaries: Record<string, ProviderSummary>): number {
  const ratios: number[] = []
  for (const [provider, {resources}] of Object.entries(request.allocations)) {
    for (const rc of Object.keys(resources)) {
      const summary = summaries[provider]?.resources[rc]
      // Unknown or zero capacity counts as full: nothing to gain from it.
      ratios.push(summary && summary.capacity > 0 ? summary.used / summary.capacity : 1)
    }
  }

  return ratios.length === 0 ? 0 : ratios.reduce((sum, ratio) => sum + ratio, 0) / ratios.length
}

// Float noise must not decide between hosts that are equally full.
function quantize(utilization: number): number {
  return Math.round(utilization * 1e9)
}

function shuffle<T>(items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[items[i], items[j]] = [items[j], items[i]]
  }
}
