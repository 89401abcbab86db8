// Why did GET /allocation_candidates come back empty? Only asked after it did
// (never on the success path): narrow the hosts down filter by filter and name
// the first one that leaves none, then the resource that ran out.
import type {ResourceRequest} from '@ec/plugin-api'

import {explainShortage, formatResources, type HostCapacity, type ProviderCapacity} from './capacity.js'
import type {PlacementClient} from './client.js'
import {mapLimit} from './concurrency.js'
import {PlacementBackendError} from './errors.js'
import {sharingProviders} from './hosts.js'
import {DISABLED_TRAIT, EC_HOST_TRAIT} from './names.js'
import type {ResourceProvider} from './wire.js'

export const NO_HOST_REGISTERED = 'no compute host is registered; start one with "ec compute start"'

export async function diagnoseNoCapacity(client: PlacementClient, request: ResourceRequest): Promise<PlacementBackendError> {
  return new PlacementBackendError('noCapacity', await explainNoCandidates(client, request))
}

async function explainNoCandidates(client: PlacementClient, request: ResourceRequest): Promise<string> {
  const registered = await client.listProviders({required: [EC_HOST_TRAIT]})
  if (registered.length === 0) return NO_HOST_REGISTERED

  const enabledTraits = [EC_HOST_TRAIT, `!${DISABLED_TRAIT}`]
  let eligible = await client.listProviders({required: enabledTraits})
  if (eligible.length === 0) {
    return `every compute host is disabled (${namesOf(registered)}); enable one or register another`
  }

  // Traits asked of the unsuffixed group are taken as the host's, like those asked of the root.
  const required = [...request.requiredTraits, ...(request.rootRequiredTraits ?? [])]
  const forbidden = [...request.forbiddenTraits, ...(request.rootForbiddenTraits ?? [])]
  const traitFilter = [...enabledTraits, ...required, ...forbidden.map((trait) => `!${trait}`)]
  if (required.length + forbidden.length > 0) {
    eligible = await client.listProviders({required: traitFilter})
    if (eligible.length === 0) {
      return `no enabled host matches the traits (${describeTraits(required, forbidden)}); relax them or register a host that has them`
    }
  }

  const memberOf = request.memberOf.filter((anyOf) => anyOf.length > 0)
  if (memberOf.length > 0) {
    eligible = await client.listProviders({required: traitFilter, memberOf})
    if (eligible.length === 0) {
      const where = memberOf.map((anyOf) => `any of ${anyOf.join(', ')}`).join(' and ')
      const withTraits = required.length + forbidden.length > 0 ? ' with the requested traits' : ''
      return `no enabled host${withTraits} is a member of ${where}; check the aggregates`
    }
  }

  return explainShortage(request, await capacityOfHosts(client, eligible)) ?? `no host could take ${formatResources(totalOf(request))} when asked, but capacity has been freed since; try again`
}

/**
 * What each host can draw from: its tree (NUMA children too) and the sharing
 * providers of its aggregates, each read once however many hosts reach it.
 */
async function capacityOfHosts(client: PlacementClient, hosts: ResourceProvider[]): Promise<HostCapacity[]> {
  // Each tree once, by its root: filtering every provider for every host costs hosts × providers.
  const trees = new Map<string, ResourceProvider[]>()
  for (const provider of await client.listProviders()) {
    const tree = trees.get(provider.root_provider_uuid)
    if (tree) tree.push(provider)
    else trees.set(provider.root_provider_uuid, [provider])
  }

  const sharing = await sharingProviders(client)
  const sharingAggregates = new Map(await mapLimit(sharing, 8, async (p) => [p.uuid, (await client.getAggregates(p.uuid)).aggregates] as const))
  const reach = await mapLimit(hosts, 8, async (host) => {
    const own = trees.get(host.uuid) ?? []
    if (sharing.length === 0) return {host, providers: own}
    const {aggregates} = await client.getAggregates(host.uuid)
    const shared = sharing.filter((p) => p.uuid !== host.uuid && sharingAggregates.get(p.uuid)?.some((agg) => aggregates.includes(agg)))
    return {host, providers: [...own, ...shared]}
  })

  const unique = new Map(reach.flatMap(({providers}) => providers.map((p) => [p.uuid, p] as const)))
  const read = new Map(
    (
      await mapLimit([...unique.values()], 8, async (provider): Promise<[string, ProviderCapacity] | undefined> => {
        try {
          const [inventories, usages] = await Promise.all([client.getInventories(provider.uuid), client.getUsages(provider.uuid)])
          return [provider.uuid, {name: provider.name, inventory: inventories.inventories, usage: usages.usages}]
        } catch (error) {
          // A provider deleted since the listing has no capacity to explain.
          if ((error as {status?: number}).status === 404) return undefined
          throw error
        }
      })
    ).filter((entry) => entry !== undefined),
  )
  return reach.map(({host, providers}) => ({
    name: host.name,
    providers: providers.map((p) => read.get(p.uuid)).filter((p) => p !== undefined),
  }))
}

/** Every group's resources added up, for a message. */
function totalOf(request: ResourceRequest): Record<string, number> {
  const total: Record<string, number> = {...request.resources}
  for (const group of request.groups ?? []) {
    for (const [rc, amount] of Object.entries(group.resources)) total[rc] = (total[rc] ?? 0) + amount
  }

  return total
}

function namesOf(providers: {name: string}[]): string {
  const names = providers.slice(0, 5).map((provider) => provider.name)
  return providers.length > 5 ? `${names.join(', ')} and ${providers.length - 5} more` : names.join(', ')
}

function describeTraits(required: string[], forbidden: string[]): string {
  const parts: string[] = []
  if (required.length > 0) parts.push(`required: ${required.join(', ')}`)
  if (forbidden.length > 0) parts.push(`forbidden: ${forbidden.join(', ')}`)
  return parts.join('; ')
}
