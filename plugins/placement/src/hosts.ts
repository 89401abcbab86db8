// A host as an operator sees it: its provider tree (the host, its NUMA
// nodes) with inventory, usage, traits and aggregates, and the shared
// storage it reaches; and the operator's own changes to traits and aggregates.
import type {HostDetail, ProviderDetail, SetChange} from '@ec/plugin-api'

import {aggregateId} from './aggregates.js'
import type {PlacementClient} from './client.js'
import {mapLimit} from './concurrency.js'
import {PlacementApiError, PlacementBackendError, unknownTraitsIn} from './errors.js'
import {retryOnGenerationConflict} from './generations.js'
import {fromWireInventories} from './inventory.js'
import {assertName, DISABLED_TRAIT, EC_HOST_TRAIT, isCustomName, isHostReportedTrait, isUuid} from './names.js'
import type {ResourceProvider} from './wire.js'

/** os-traits' mark of a provider that shares its inventory with the members of its aggregates. */
export const SHARING_TRAIT = 'MISC_SHARES_VIA_AGGREGATE'

/** The ec host a name or id stands for; reason notFound otherwise. */
export async function findHost(client: PlacementClient, ref: string): Promise<ResourceProvider> {
  const found = isUuid(ref) ? await client.getProvider(ref.toLowerCase()) : (await client.listProviders({name: ref}))[0]
  if (found) {
    const {traits} = await client.getTraits(found.uuid)
    if (traits.includes(EC_HOST_TRAIT)) return found
  }

  throw new PlacementBackendError('notFound', `no host "${ref}" is registered; "ec host list" shows the hosts`)
}

export async function providerDetail(client: PlacementClient, provider: ResourceProvider): Promise<ProviderDetail> {
  const [inventories, usages, traits, aggregates] = await Promise.all([
    client.getInventories(provider.uuid),
    client.getUsages(provider.uuid),
    client.getTraits(provider.uuid),
    client.getAggregates(provider.uuid),
  ])
  return {
    id: provider.uuid,
    name: provider.name,
    ...(provider.parent_provider_uuid ? {parentId: provider.parent_provider_uuid} : {}),
    inventory: fromWireInventories(inventories.inventories),
    usage: usages.usages,
    traits: traits.traits.sort(),
    aggregates: aggregates.aggregates.sort(),
  }
}

export async function describeHost(client: PlacementClient, ref: string): Promise<HostDetail> {
  const root = await findHost(client, ref)
  const tree = await client.listProviders({inTree: root.uuid})
  // The host first, then its children in name order.
  tree.sort((a, b) => (a.uuid === root.uuid ? -1 : b.uuid === root.uuid ? 1 : a.name.localeCompare(b.name)))
  const providers = await mapLimit(tree, 4, (provider) => providerDetail(client, provider))
  const aggregates = providers[0].aggregates
  const sharing = aggregates.length === 0 ? [] : await sharingProviders(client, aggregates)
  return {
    id: root.uuid,
    name: root.name,
    schedulable: !providers[0].traits.includes(DISABLED_TRAIT),
    providers,
    sharedStorage: await mapLimit(sharing, 4, (provider) => providerDetail(client, provider)),
  }
}

/** Sharing providers in any of these aggregates (none before the first one ever existed). */
export async function sharingProviders(client: PlacementClient, aggregates?: string[]): Promise<ResourceProvider[]> {
  try {
    return await client.listProviders({required: [SHARING_TRAIT], memberOf: aggregates ? [aggregates] : []})
  } catch (error) {
    if (unknownTraitsIn(error)) return []
    throw error
  }
}

export async function changeHostTraits(client: PlacementClient, ref: string, change: SetChange): Promise<string[]> {
  const host = await findHost(client, ref)
  for (const trait of [...(change.add ?? []), ...(change.remove ?? [])]) {
    assertName(trait, 'trait')
    if (isHostReportedTrait(trait) || trait === DISABLED_TRAIT) {
      throw new PlacementBackendError(
        'usage',
        `${trait} is reported by the host's agent itself (HW_CPU_*, COMPUTE_*, CUSTOM_EC_*); set your own CUSTOM_* traits, or compute.traits in the host's config`,
      )
    }
  }

  await Promise.all((change.add ?? []).filter(isCustomName).map((trait) => client.ensureTrait(trait)))
  return retryOnGenerationConflict(`the traits of host ${host.name}`, async () => {
    const current = await client.getTraits(host.uuid)
    const next = applyChange(current.traits, change)
    try {
      return (await client.setTraits(host.uuid, current.resource_provider_generation, next)).traits.sort()
    } catch (error) {
      if (error instanceof PlacementApiError && error.status === 400) throw new PlacementBackendError('usage', `Placement rejected the traits: ${error.detail}`, {cause: error})
      throw error
    }
  })
}

/** Aggregates of a provider by name or uuid; returns the uuids it is in afterwards. */
export async function changeAggregates(client: PlacementClient, provider: ResourceProvider, change: SetChange): Promise<string[]> {
  const resolved = {add: (change.add ?? []).map(aggregateId), remove: (change.remove ?? []).map(aggregateId)}
  return retryOnGenerationConflict(`the aggregates of ${provider.name}`, async () => {
    const current = await client.getAggregates(provider.uuid)
    const next = applyChange(current.aggregates, resolved)
    return (await client.setAggregates(provider.uuid, current.resource_provider_generation, next)).aggregates.sort()
  })
}

function applyChange(current: string[], change: SetChange): string[] {
  const set = new Set(current)
  for (const item of change.add ?? []) set.add(item)
  for (const item of change.remove ?? []) set.delete(item)
  return [...set].sort()
}
