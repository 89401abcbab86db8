// A typed client for the parts of the Placement API ec uses. It negotiates
// the microversion once per client, sends it on every request, and turns
// Placement's error documents into PlacementApiError and transport failures
// into reason 'unavailable'. It does not retry conflicts: callers know which
// are worth another try. Given several URLs (one Placement per controller, all
// over one database) it fails over to the next one that answers, and stays there.
import {Agent} from 'node:https'
import {createSecureContext} from 'node:tls'

import {describeTransportError, parseErrorResponse, PlacementBackendError} from './errors.js'
import {HttpServer, type HttpResponse} from './http.js'
import {
  compareMicroversions,
  CONSUMER_TYPE_MICROVERSION,
  formatMicroversion,
  MIN_MICROVERSION,
  negotiateMicroversion,
  parseMicroversion,
  type Microversion,
} from './microversion.js'
import type {TlsMaterial} from '@ec/plugin-api'
import type {
  AllocationCandidates,
  ConsumerAllocations,
  ProviderAggregates,
  ProviderAllocations,
  ProviderInventories,
  ProviderTraits,
  ProviderUsages,
  ResourceProvider,
  VersionDocument,
  WireInventory,
} from './wire.js'

export interface PlacementClientOptions {
  /** One URL or several equivalent ones (Placement is stateless over its database). */
  url: string | string[]
  /** Sent as X-Auth-Token: "admin" with noauth2, a Keystone token otherwise. */
  token: string
  timeoutMs: number
  /** Client certificate and the CA to trust, for a Placement that requires mutual TLS. */
  tls?: TlsMaterial
}

export interface VersionRange {
  min: string
  max: string
}

/** Filters of GET /resource_providers and GET /allocation_candidates. */
export interface ProviderFilter {
  /** Trait names; a leading "!" forbids the trait. */
  required?: string[]
  /** Each inner list is "member of any of these aggregates"; the lists are and-ed. */
  memberOf?: string[][]
  /** Providers in the tree of this one. */
  inTree?: string
}


export interface AllocationsUpdate {
  /** Resources per provider uuid. */
  allocations: Record<string, Record<string, number>>
  projectId: string
  userId: string
  /** null: the consumer must not exist yet. */
  consumerGeneration: number | null
  /** Sent from microversion 1.38 on, where Placement requires it. */
  consumerType: string
}

interface RequestOptions {
  params?: URLSearchParams
  body?: unknown
  signal?: AbortSignal
  /** Error statuses the caller handles itself instead of getting an exception. */
  expect?: number[]
}

export class PlacementClient {
  readonly urls: string[]
  private readonly servers: HttpServer[]
  /** The server that answered last: requests go there first. */
  private current = 0
  /** The negotiated version, discovered by the first request and shared by all after it. */
  private negotiation?: Promise<Microversion>
  private closed = false

  constructor(options: PlacementClientOptions) {
    this.urls = (Array.isArray(options.url) ? options.url : [options.url]).map((url) => url.replace(/\/+$/, ''))
    if (this.urls.length === 0) throw new PlacementBackendError('config', 'placement.url lists no URL; give at least one')
    const httpsAgent = options.tls ? tlsAgent(options.tls) : undefined
    // Every status resolves (http.ts): error statuses carry Placement's error document, read by send().
    this.servers = this.urls.map(
      (baseURL) =>
        new HttpServer({
          baseURL,
          timeoutMs: options.timeoutMs,
          headers: {'X-Auth-Token': options.token, Accept: 'application/json'},
          httpsAgent,
        }),
    )
  }

  /** The URL requests go to first (the one that answered last). */
  get url(): string {
    return this.urls[this.current]
  }

  /** Ask the server which API versions it speaks (uncached: health checks want a fresh answer). */
  async versions(signal?: AbortSignal): Promise<VersionRange> {
    this.assertOpen()
    const response = await this.failover('GET', (http) => http.request<VersionDocument | undefined>({method: 'GET', path: '/', signal}))

    const version = response.status < 400 ? response.data?.versions?.[0] : undefined
    if (!version?.max_version || !parseMicroversion(version.max_version)) {
      throw new PlacementBackendError(
        'config',
        `${this.url} does not look like Placement: GET / answered ${response.status} without versions[0].max_version; check placement.url (EC_PLACEMENT_URL)`,
      )
    }

    return {min: version.min_version ?? '1.0', max: version.max_version}
  }

  /** The microversion every request carries: min(server max, 1.39); at least 1.28 or reason 'config'. */
  microversion(): Promise<Microversion> {
    this.negotiation ??= this.negotiate().catch((error: unknown) => {
      // An unreachable server may come up later: ask again next time.
      this.negotiation = undefined
      throw error
    })
    return this.negotiation
  }

  /**
   * Stop taking requests. There is nothing to free: over http sockets belong
   * to Node's global agent; the TLS agent keeps none alive (Placement closes them).
   */
  close(): void {
    this.closed = true
  }

  // Resource providers

  /** Does the negotiated microversion reach 1.<minor>? */
  async supports(minor: number): Promise<boolean> {
    return compareMicroversions(await this.microversion(), {major: 1, minor}) >= 0
  }

  createProvider(uuid: string, name: string, parentUuid?: string): Promise<ResourceProvider> {
    const body = parentUuid ? {uuid, name, parent_provider_uuid: parentUuid} : {uuid, name}
    return this.send<ResourceProvider>('POST', '/resource_providers', {body}).then((r) => r.data)
  }

  /** Rename, or move under another parent (re-parenting needs 1.37). */
  updateProvider(uuid: string, name: string, parentUuid?: string | null): Promise<ResourceProvider> {
    const body = parentUuid === undefined ? {name} : {name, parent_provider_uuid: parentUuid}
    return this.send<ResourceProvider>('PUT', `/resource_providers/${enc(uuid)}`, {body}).then((r) => r.data)
  }

  /** False when it did not exist. */
  async deleteProvider(uuid: string): Promise<boolean> {
    const response = await this.send('DELETE', `/resource_providers/${enc(uuid)}`, {expect: [404]})
    return response.status !== 404
  }

  async getProvider(uuid: string): Promise<ResourceProvider | undefined> {
    const response = await this.send<ResourceProvider>('GET', `/resource_providers/${enc(uuid)}`, {expect: [404]})
    return response.status === 404 ? undefined : response.data
  }

  async listProviders(filter: ProviderFilter & {name?: string} = {}): Promise<ResourceProvider[]> {
    const params = filterParams(filter)
    if (filter.name !== undefined) params.append('name', filter.name)
    const response = await this.send<{resource_providers: ResourceProvider[]}>('GET', '/resource_providers', {params})
    return response.data.resource_providers
  }

  /** The provider and its descendants (Placement 1.14+). */
  async providersInTree(rootUuid: string): Promise<ResourceProvider[]> {
    const params = new URLSearchParams({in_tree: rootUuid})
    const response = await this.send<{resource_providers: ResourceProvider[]}>('GET', '/resource_providers', {params})
    return response.data.resource_providers
  }

  /** Every consumer's allocation against one provider. */
  getProviderAllocations(uuid: string): Promise<ProviderAllocations> {
    return this.send<ProviderAllocations>('GET', `/resource_providers/${enc(uuid)}/allocations`).then((r) => r.data)
  }

  getInventories(uuid: string): Promise<ProviderInventories> {
    return this.send<ProviderInventories>('GET', `/resource_providers/${enc(uuid)}/inventories`).then((r) => r.data)
  }

  /** Replace the whole inventory; 409 placement.concurrent_update when `generation` is stale. */
  setInventories(uuid: string, generation: number, inventories: Record<string, WireInventory>): Promise<ProviderInventories> {
    return this.send<ProviderInventories>('PUT', `/resource_providers/${enc(uuid)}/inventories`, {
      body: {resource_provider_generation: generation, inventories},
    }).then((r) => r.data)
  }

  getUsages(uuid: string): Promise<ProviderUsages> {
    return this.send<ProviderUsages>('GET', `/resource_providers/${enc(uuid)}/usages`).then((r) => r.data)
  }

  getTraits(uuid: string): Promise<ProviderTraits> {
    return this.send<ProviderTraits>('GET', `/resource_providers/${enc(uuid)}/traits`).then((r) => r.data)
  }

  /** Replace the provider's traits; 409 placement.concurrent_update when `generation` is stale. */
  setTraits(uuid: string, generation: number, traits: string[]): Promise<ProviderTraits> {
    return this.send<ProviderTraits>('PUT', `/resource_providers/${enc(uuid)}/traits`, {
      body: {resource_provider_generation: generation, traits},
    }).then((r) => r.data)
  }

  getAggregates(uuid: string): Promise<ProviderAggregates> {
    return this.send<ProviderAggregates>('GET', `/resource_providers/${enc(uuid)}/aggregates`).then((r) => r.data)
  }

  setAggregates(uuid: string, generation: number, aggregates: string[]): Promise<ProviderAggregates> {
    return this.send<ProviderAggregates>('PUT', `/resource_providers/${enc(uuid)}/aggregates`, {
      body: {resource_provider_generation: generation, aggregates},
    }).then((r) => r.data)
  }

  // Traits and resource classes: PUT creates, and is a no-op (204) when it exists.

  async ensureTrait(name: string): Promise<void> {
    await this.send('PUT', `/traits/${enc(name)}`)
  }

  async ensureResourceClass(name: string): Promise<void> {
    await this.send('PUT', `/resource_classes/${enc(name)}`)
  }

  // Scheduling

  /** `params` as candidateParams (query.ts) builds them. */
  allocationCandidates(params: URLSearchParams, signal?: AbortSignal): Promise<AllocationCandidates> {
    return this.send<AllocationCandidates>('GET', '/allocation_candidates', {params, signal}).then((r) => r.data)
  }

  /** Replace the consumer's allocations atomically: all providers or none. */
  async putAllocations(consumerId: string, update: AllocationsUpdate, signal?: AbortSignal): Promise<void> {
    const version = await this.microversion()
    const allocations = Object.fromEntries(
      Object.entries(update.allocations).map(([provider, resources]) => [provider, {resources}]),
    )
    const body: Record<string, unknown> = {
      allocations,
      project_id: update.projectId,
      user_id: update.userId,
      consumer_generation: update.consumerGeneration,
    }
    if (compareMicroversions(version, CONSUMER_TYPE_MICROVERSION) >= 0) body.consumer_type = update.consumerType
    await this.send('PUT', `/allocations/${enc(consumerId)}`, {body, signal})
  }

  /** The consumer's allocations; an unknown consumer has none (Placement answers 200 with {}). */
  getAllocations(consumerId: string): Promise<ConsumerAllocations> {
    return this.send<ConsumerAllocations>('GET', `/allocations/${enc(consumerId)}`).then((r) => r.data)
  }

  /** Delete every allocation of the consumer; false when it had none. */
  async deleteAllocations(consumerId: string): Promise<boolean> {
    const response = await this.send('DELETE', `/allocations/${enc(consumerId)}`, {expect: [404]})
    return response.status !== 404
  }

  private async negotiate(): Promise<Microversion> {
    const {max} = await this.versions()
    const serverMax = parseMicroversion(max) as Microversion // versions() checked it parses
    if (compareMicroversions(serverMax, MIN_MICROVERSION) < 0) {
      throw new PlacementBackendError(
        'config',
        `Placement at ${this.url} speaks API up to ${max}; ec needs ${formatMicroversion(MIN_MICROVERSION)} or newer (consumer generations, OpenStack Rocky); upgrade Placement or point placement.url elsewhere`,
      )
    }

    return negotiateMicroversion(serverMax)
  }

  private async send<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<HttpResponse<T>> {
    this.assertOpen()
    const version = formatMicroversion(await this.microversion())
    const response = await this.failover(method, (http) =>
      http.request<T>({
        method,
        path,
        params: options.params,
        body: options.body,
        signal: options.signal,
        headers: {'OpenStack-API-Version': `placement ${version}`},
      }),
    )

    if (response.status >= 400 && !options.expect?.includes(response.status)) {
      throw parseErrorResponse(method, path, response.status, response.data)
    }

    return response
  }

  /**
   * Send to the current server, then to each other one while they do not
   * answer. A request goes on to the next server only when it certainly did
   * not happen (connection refused) or is safe to repeat (GET, DELETE).
   */
  private async failover<T>(method: string, request: (http: HttpServer) => Promise<T>): Promise<T> {
    let lastError: Error | undefined
    for (let i = 0; i < this.servers.length; i++) {
      const index = (this.current + i) % this.servers.length
      try {
        const response = await request(this.servers[index])
        this.current = index
        return response
      } catch (error) {
        lastError = describeTransportError(error, this.urls[index])
        const repeatable = method === 'GET' || method === 'DELETE' || (lastError as PlacementBackendError).notApplied === true
        if (!(lastError instanceof PlacementBackendError && lastError.reason === 'unavailable' && repeatable)) throw lastError
      }
    }

    if (this.servers.length > 1) {
      const error = new PlacementBackendError(
        'unavailable',
        `no Placement answers at ${this.urls.join(', ')}; start the control plane with "ec up" or fix placement.url (EC_PLACEMENT_URL)`,
        {cause: lastError},
      )
      error.notApplied = (lastError as PlacementBackendError).notApplied
      throw error
    }

    throw lastError as Error
  }

  private assertOpen(): void {
    if (this.closed) throw new PlacementBackendError('failure', `the Placement client for ${this.url} is closed`)
  }
}

/**
 * Placement's gunicorn closes every connection after its answer, so each
 * request opens a TLS connection; built from ca/cert/key, each would parse
 * them into a new secure context first (about 7 ms of an agent's CPU per
 * instance at bench/schedule's rate). One context serves them all.
 */
function tlsAgent(tls: TlsMaterial): Agent {
  return new Agent({...tls, secureContext: createSecureContext({ca: tls.ca, cert: tls.cert, key: tls.key})})
}

function enc(segment: string): string {
  return encodeURIComponent(segment)
}

/** `required` as one comma list; `member_of=in:a,b` once per inner list (and-ed by Placement since 1.24). */
function filterParams(filter: ProviderFilter): URLSearchParams {
  const params = new URLSearchParams()
  if (filter.required?.length) params.append('required', filter.required.join(','))
  for (const anyOf of filter.memberOf ?? []) {
    if (anyOf.length > 0) params.append('member_of', `in:${anyOf.join(',')}`)
  }

  if (filter.inTree) params.append('in_tree', filter.inTree)

  return params
}
