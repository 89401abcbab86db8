// ec's scheduler on OpenStack Placement: hosts are resource providers with
// the CUSTOM_EC_HOST trait, a claim is a consumer's allocations, and
// Placement's atomic PUT /allocations is what keeps racing claims honest.
import {
  type CandidatePreview,
  type Claim,
  type ClaimOptions,
  type HostDetail,
  type HostIdentity,
  type HostRegistration,
  type HostUsage,
  loadClientTls,
  type ResourceRequest,
  type SchedulerBackend,
  type ServiceHealth,
  type SetChange,
  type StorageDetail,
  type StorageRegistration,
} from '@ec/plugin-api'

import {aggregateId} from './aggregates.js'
import {rankCandidates, type RankedCandidate} from './candidates.js'
import {PlacementClient} from './client.js'
import {changeAggregates, changeHostTraits, describeHost, findHost} from './hosts.js'
import {candidateParams, validateRequest} from './query.js'
import {mapLimit} from './concurrency.js'
import type {PlacementSettings} from './config.js'
import {diagnoseNoCapacity, NO_HOST_REGISTERED} from './diagnosis.js'
import {PlacementApiError, PlacementBackendError, unknownTraitsIn} from './errors.js'
import {retryOnGenerationConflict} from './generations.js'
import {fromWireInventories} from './inventory.js'
import {compareMicroversions, MIN_MICROVERSION, parseMicroversion} from './microversion.js'
import {assertUuid, CONSUMER_TYPE, DISABLED_TRAIT, EC_HOST_TRAIT, isUuid} from './names.js'
import {registerProvider} from './registration.js'
import {addStorage, describeStorage, listStorage, removeStorage} from './storage.js'
import type {AllocationCandidates, ResourceProvider} from './wire.js'

/** Placement's detail when PUT /allocations with consumer_generation null meets an existing consumer. */
const CONSUMER_EXISTS = /consumer generation conflict/i

export class PlacementScheduler implements SchedulerBackend {
  readonly client: PlacementClient
  /** Provider uuid → name. Candidates carry no names; this keeps the claim path to two requests. */
  private readonly hostNames = new Map<string, string>()

  constructor(private readonly settings: PlacementSettings) {
    this.client = new PlacementClient({
      url: settings.url,
      token: settings.token,
      timeoutMs: settings.timeoutMs,
      tls: settings.tls ? loadClientTls(settings.tls, 'placement') : undefined,
    })
  }

  async registerHost(host: HostRegistration): Promise<HostIdentity> {
    const identity = await registerProvider(this.client, host)
    this.hostNames.set(identity.id, identity.name)
    return identity
  }

  async setSchedulable(hostId: string, schedulable: boolean): Promise<void> {
    assertUuid(hostId, 'host id')
    await retryOnGenerationConflict(`the traits of host ${hostId}`, async () => {
      const current = await this.client.getTraits(hostId).catch((error: unknown) => {
        throw notFoundAs(error, `no host with id ${hostId} is registered with Placement`)
      })
      if (current.traits.includes(DISABLED_TRAIT) !== schedulable) return
      const traits = schedulable ? current.traits.filter((trait) => trait !== DISABLED_TRAIT) : [...current.traits, DISABLED_TRAIT]
      await this.client.setTraits(hostId, current.resource_provider_generation, traits)
    })
  }

  async removeHost(hostId: string): Promise<void> {
    assertUuid(hostId, 'host id')
    try {
      await this.client.deleteProvider(hostId)
    } catch (error) {
      if (error instanceof PlacementApiError && error.status === 409) {
        throw new PlacementBackendError('conflict', `host ${this.hostNames.get(hostId) ?? hostId} still holds allocations; delete its instances first`, {cause: error})
      }

      throw error
    }

    this.hostNames.delete(hostId)
  }

  /**
   * Ask for candidates, try them in policy order, re-ask when every one was
   * taken by a racing claim. The success path is one GET and one PUT.
   */
  async claim(consumerId: string, request: ResourceRequest, options: ClaimOptions = {}): Promise<Claim> {
    assertUuid(consumerId, 'consumer id')
    // A caller's filter or preference sees every host with room: a limit could hide the hosts it wants.
    const query = await this.candidateParams(request, {unlimited: options.accept !== undefined || options.prefer !== undefined})
    const policy = options.policy ?? this.settings.policy
    const owner = {projectId: options.projectId ?? this.settings.projectId, userId: options.userId ?? this.settings.userId}
    let attempts = 0
    let lastConflict: PlacementApiError | undefined

    for (let round = 1; round <= this.settings.claimRounds; round++) {
      throwIfCancelled(options.signal, consumerId)
      const candidates = await this.client.allocationCandidates(query, options.signal).catch((error: unknown) => {
        throw explainCandidateQueryError(error)
      })
      if (candidates.allocation_requests.length === 0) throw await diagnoseNoCapacity(this.client, withAggregateIds(request))
      const ranked = orderForCaller(rankCandidates(candidates, policy), options)
      if (ranked.length === 0 && options.accept) throw this.noneAccepted(candidates)
      report(options, 'candidates', `${ranked.length} candidate host${ranked.length === 1 ? '' : 's'} (${policy}, round ${round})`)

      for (const candidate of ranked) {
        throwIfCancelled(options.signal, consumerId)
        attempts++
        report(options, 'claim', `claiming on ${this.hostNames.get(candidate.hostId) ?? candidate.hostId} (try ${attempts})`)
        // The host's name is looked up while the claim is being written, not after.
        const hostName = this.hostName(candidate.hostId)
        try {
          // No signal here: an abandoned PUT would leave it unknown whether the claim holds.
          await this.client.putAllocations(consumerId, {
            allocations: candidate.allocations,
            ...owner,
            consumerGeneration: null,
            consumerType: CONSUMER_TYPE,
          })
        } catch (error) {
          if (!(error instanceof PlacementApiError && error.isConflict)) throw badRequestAs(error, 'Placement rejected the claim')
          if (CONSUMER_EXISTS.test(error.detail)) throw await this.consumerExists(consumerId, error)
          // Capacity taken by a racing claim, or the host changed meanwhile: next candidate.
          lastConflict = error
          continue
        }

        return {
          consumerId,
          hostId: candidate.hostId,
          hostName: await hostName,
          allocations: candidate.resources,
          byProvider: candidate.allocations,
        }
      }
    }

    throw new PlacementBackendError(
      'conflict',
      `every host that fit consumer ${consumerId} was taken by a racing claim (${attempts} tries in ${this.settings.claimRounds} rounds); try again`,
      {cause: lastConflict},
    )
  }

  async release(consumerId: string): Promise<void> {
    assertUuid(consumerId, 'consumer id')
    // false (404) means nothing was held: released already, which is fine.
    await this.client.deleteAllocations(consumerId)
  }

  async allocations(consumerId: string): Promise<Record<string, Record<string, number>>> {
    assertUuid(consumerId, 'consumer id')
    const {allocations} = await this.client.getAllocations(consumerId)
    return Object.fromEntries(Object.entries(allocations).map(([hostId, {resources}]) => [hostId, resources]))
  }

  async hostAllocations(hostId: string): Promise<Record<string, Record<string, number>>> {
    assertUuid(hostId, 'host id')
    const tree = await this.client.providersInTree(hostId)
    const held: Record<string, Record<string, number>> = {}
    const listings = await mapLimit(tree, 8, (provider) => this.client.getProviderAllocations(provider.uuid))
    for (const {allocations} of listings) {
      for (const [consumer, {resources}] of Object.entries(allocations)) {
        const sum = (held[consumer] ??= {})
        for (const [rc, amount] of Object.entries(resources)) sum[rc] = (sum[rc] ?? 0) + amount
      }
    }

    return held
  }

  /** One listing, then inventory, usages and traits per host (three requests each, a few hosts at a time). */
  async listHosts(): Promise<HostUsage[]> {
    const providers = await this.ecHostProviders()
    const hosts = await mapLimit(providers, 8, async (provider): Promise<HostUsage | undefined> => {
      this.hostNames.set(provider.uuid, provider.name)
      try {
        const [inventories, usages, traits] = await Promise.all([
          this.client.getInventories(provider.uuid),
          this.client.getUsages(provider.uuid),
          this.client.getTraits(provider.uuid),
        ])
        return {
          id: provider.uuid,
          name: provider.name,
          inventory: fromWireInventories(inventories.inventories),
          usage: usages.usages,
          // ec's own markers are implied (every host) or told by `schedulable`.
          traits: traits.traits.filter((trait) => trait !== EC_HOST_TRAIT && trait !== DISABLED_TRAIT).sort(),
          schedulable: !traits.traits.includes(DISABLED_TRAIT),
        }
      } catch (error) {
        // Deleted since the listing: it is no longer a host.
        if (error instanceof PlacementApiError && error.status === 404) return undefined
        throw error
      }
    })
    return hosts.filter((host) => host !== undefined).sort((a, b) => a.name.localeCompare(b.name))
  }

  async health(): Promise<ServiceHealth> {
    const endpoint = this.client.url
    try {
      const {min, max} = await this.client.versions()
      const version = `API ${min}–${max}`
      const usable = compareMicroversions(parseMicroversion(max) ?? {major: 0, minor: 0}, MIN_MICROVERSION) >= 0
      return usable ? {ok: true, endpoint, version} : {ok: false, endpoint, version, detail: `ec needs Placement API 1.28 or newer`}
    } catch (error) {
      return {ok: false, endpoint, detail: (error as Error).message}
    }
  }

  async close(): Promise<void> {
    this.client.close()
  }

  /** The query of GET /allocation_candidates for a request; root_required where Placement takes it (1.35). */
  async candidateParams(request: ResourceRequest, {unlimited = false} = {}): Promise<URLSearchParams> {
    validateRequest(request)
    // --in-tree takes a host's name too; Placement takes its uuid.
    if (request.inTree && !isUuid(request.inTree)) request = {...request, inTree: (await findHost(this.client, request.inTree)).uuid}
    return candidateParams(request, {limit: unlimited ? undefined : this.settings.candidateLimit, rootRequired: await this.client.supports(35)})
  }

  /** Every host with room was refused by the caller's accept(); named where known already (no request per host on this path). */
  private noneAccepted(candidates: AllocationCandidates): PlacementBackendError {
    const hosts = [...new Set(rankCandidates(candidates, 'pack').map((c) => c.hostId))]
    const names = hosts.map((id) => this.hostNames.get(id)).filter((name) => name !== undefined)
    const known = names.length === hosts.length && hosts.length <= 5 ? ` (${names.join(', ')})` : ''
    return new PlacementBackendError('noCapacity', `the ${hosts.length} host${hosts.length === 1 ? '' : 's'} with room${known} ${hosts.length === 1 ? 'is' : 'are all'} excluded`)
  }

  async previewCandidates(request: ResourceRequest): Promise<CandidatePreview> {
    const params = await this.candidateParams(request)
    const found = await this.client.allocationCandidates(params).catch((error: unknown) => {
      throw explainCandidateQueryError(error)
    })
    const candidates = await mapLimit(rankCandidates(found, this.settings.policy), 4, async (candidate) => ({
      hostId: candidate.hostId,
      hostName: await this.hostName(candidate.hostId),
      providers: await Promise.all(
        Object.entries(candidate.allocations).map(async ([id, resources]) => ({id, name: await this.hostName(id), resources})),
      ),
    }))
    return {query: params.toString(), candidates}
  }

  describeHost(ref: string): Promise<HostDetail> {
    return describeHost(this.client, ref)
  }

  changeHostTraits(ref: string, change: SetChange): Promise<string[]> {
    return changeHostTraits(this.client, ref, change)
  }

  async changeHostAggregates(ref: string, change: SetChange): Promise<string[]> {
    return changeAggregates(this.client, await findHost(this.client, ref), change)
  }

  addStorage(storage: StorageRegistration): Promise<StorageDetail> {
    return addStorage(this.client, storage)
  }

  listStorage(): Promise<StorageDetail[]> {
    return listStorage(this.client)
  }

  describeStorage(ref: string): Promise<StorageDetail> {
    return describeStorage(this.client, ref)
  }

  removeStorage(id: string): Promise<void> {
    return removeStorage(this.client, id)
  }

  /** Every provider that is an ec host; none (rather than a 400) before the first host registered. */
  private async ecHostProviders(): Promise<ResourceProvider[]> {
    try {
      return await this.client.listProviders({required: [EC_HOST_TRAIT]})
    } catch (error) {
      if (unknownTraitsIn(error)?.includes(EC_HOST_TRAIT)) return []
      throw error
    }
  }

  /** The provider's name (cached): one small GET of that provider, never a listing of them all. */
  private async hostName(hostId: string): Promise<string> {
    if (!this.hostNames.has(hostId)) {
      try {
        const provider = await this.client.getProvider(hostId)
        if (provider) this.hostNames.set(hostId, provider.name)
      } catch {
        // The claim holds already; a missing name must not turn it into an error.
      }
    }

    return this.hostNames.get(hostId) ?? hostId
  }

  private async consumerExists(consumerId: string, cause: PlacementApiError): Promise<PlacementBackendError> {
    let where = ''
    try {
      const held = await this.allocations(consumerId)
      const hosts = await Promise.all(Object.keys(held).map((hostId) => this.hostName(hostId)))
      if (hosts.length > 0) where = ` on ${hosts.join(', ')}`
    } catch {
      // Naming the host is a courtesy; the conflict stands without it.
    }

    return new PlacementBackendError(
      'conflict',
      `consumer ${consumerId} already holds allocations${where}; release it before claiming again`,
      {cause},
    )
  }
}

/** The request as the diagnosis reads it: aggregates by uuid, as Placement names them. */
function withAggregateIds(request: ResourceRequest): ResourceRequest {
  return {...request, memberOf: request.memberOf.map((anyOf) => anyOf.map(aggregateId))}
}

/** The caller's filter and preference over the policy's order (the sort is stable). */
function orderForCaller(ranked: RankedCandidate[], {accept, prefer}: ClaimOptions): RankedCandidate[] {
  const kept = accept ? ranked.filter((candidate) => accept(candidate.hostId)) : ranked
  return prefer ? kept.sort((a, b) => prefer(a.hostId) - prefer(b.hostId)) : kept
}

/** Progress for display only: a failing listener must not fail the claim. */
function report(options: ClaimOptions, step: 'candidates' | 'claim', detail: string): void {
  try {
    options.onStep?.(step, detail)
  } catch {
    // ignored on purpose
  }
}

function throwIfCancelled(signal: AbortSignal | undefined, consumerId: string): void {
  if (signal?.aborted) throw new PlacementBackendError('failure', `the claim for ${consumerId} was cancelled`, {cause: signal.reason})
}

function explainCandidateQueryError(error: unknown): unknown {
  const unknown = unknownTraitsIn(error)
  // CUSTOM_EC_HOST comes into being with the first host that registers.
  if (unknown?.includes(EC_HOST_TRAIT)) return new PlacementBackendError('noCapacity', NO_HOST_REGISTERED, {cause: error})
  if (unknown) {
    return new PlacementBackendError(
      'usage',
      `Placement does not know the trait(s) ${unknown.join(', ')}: no host ever had them; check the spelling`,
      {cause: error},
    )
  }

  return badRequestAs(error, 'Placement rejected the request')
}

/** A 400 in the claim path means the request itself was wrong (say, a trait Placement does not know). */
function badRequestAs(error: unknown, prefix: string): unknown {
  if (error instanceof PlacementApiError && error.status === 400) {
    return new PlacementBackendError('usage', `${prefix}: ${error.detail}`, {cause: error})
  }

  return error
}

function notFoundAs(error: unknown, message: string): unknown {
  if (error instanceof PlacementApiError && error.status === 404) return new PlacementBackendError('notFound', message, {cause: error})
  return error
}
