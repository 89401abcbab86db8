// Shared storage (`ec storage`): a resource provider of its own (a root, no
// parent) with DISK_GB inventory, the os-traits mark MISC_SHARES_VIA_AGGREGATE
// and ec's CUSTOM_EC_STORAGE, in one or more aggregates. Placement then offers
// its DISK_GB to every provider tree whose root is in one of those aggregates,
// in the same allocation as the host's VCPU and memory. The path the disks go
// in is not Placement's business: core keeps it in the transport.
import type {StorageDetail, StorageRegistration} from '@ec/plugin-api'

import {aggregateId} from './aggregates.js'
import type {PlacementClient} from './client.js'
import {mapLimit} from './concurrency.js'
import {PlacementApiError, PlacementBackendError, PlacementErrorCode, unknownTraitsIn} from './errors.js'
import {providerDetail, SHARING_TRAIT} from './hosts.js'
import {toWireInventories} from './inventory.js'
import {assertUuid, EC_HOST_TRAIT, isUuid} from './names.js'
import type {ResourceProvider} from './wire.js'

/** ec's mark on the sharing providers it made, so it lists and removes only its own. */
export const STORAGE_TRAIT = 'CUSTOM_EC_STORAGE'
/** The largest amount Placement stores (a signed 32-bit integer). */
const MAX_AMOUNT = 2_147_483_647
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/

export function assertStorageName(name: string): void {
  if (!NAME.test(name) || isUuid(name)) {
    throw new PlacementBackendError('usage', `storage name "${name}" is not valid: 1-63 letters, digits, ".", "_", "-", starting with a letter or digit, and not a uuid`)
  }
}

export async function addStorage(client: PlacementClient, storage: StorageRegistration): Promise<StorageDetail> {
  assertUuid(storage.id, 'storage id')
  assertStorageName(storage.name)
  if (!Number.isInteger(storage.diskGb) || storage.diskGb < 1 || storage.diskGb > MAX_AMOUNT) {
    throw new PlacementBackendError('usage', `--disk-gb must be a whole number of GB from 1 to ${MAX_AMOUNT}, got ${storage.diskGb}`)
  }

  if (storage.aggregates.length === 0) throw new PlacementBackendError('usage', 'shared storage needs an aggregate (--aggregate AGG): it serves the hosts in it')
  const aggregates = [...new Set(storage.aggregates.map(aggregateId))].sort()
  await client.ensureTrait(STORAGE_TRAIT)

  let provider: ResourceProvider
  try {
    provider = await client.createProvider(storage.id, storage.name)
  } catch (error) {
    if (error instanceof PlacementApiError && error.status === 409) {
      throw new PlacementBackendError(
        'conflict',
        `a resource provider named "${storage.name}" exists already (shared storage or a host); ec storage list shows the storage, pick another name`,
        {cause: error},
      )
    }

    throw error
  }

  // A fresh provider: nobody else writes it, so each generation is the one the last write returned.
  try {
    const inventories = await client.setInventories(provider.uuid, provider.generation ?? 0, toWireInventories([
      {resourceClass: 'DISK_GB', total: storage.diskGb, reserved: 0, allocationRatio: 1},
    ]))
    const traits = await client.setTraits(provider.uuid, inventories.resource_provider_generation, [SHARING_TRAIT, STORAGE_TRAIT])
    await client.setAggregates(provider.uuid, traits.resource_provider_generation, aggregates)
  } catch (error) {
    // Nothing half-made stays behind; the provider holds nothing yet, so it can go.
    await client.deleteProvider(provider.uuid).catch(() => undefined)
    throw error
  }

  return describeStorageProvider(client, provider)
}

export async function listStorage(client: PlacementClient): Promise<StorageDetail[]> {
  let found: ResourceProvider[]
  try {
    found = await client.listProviders({required: [STORAGE_TRAIT]})
  } catch (error) {
    // The trait comes into being with the first storage.
    if (unknownTraitsIn(error)) return []
    throw error
  }

  const all = await mapLimit(found, 4, (provider) => describeStorageProvider(client, provider).catch(goneAsUndefined))
  return all.filter((s) => s !== undefined).sort((a, b) => a.name.localeCompare(b.name))
}

/** Shared storage by name or id; notFound for anything else (a host, another service's provider). */
export async function findStorage(client: PlacementClient, ref: string): Promise<ResourceProvider> {
  const found = isUuid(ref) ? await client.getProvider(ref.toLowerCase()) : NAME.test(ref) ? (await client.listProviders({name: ref}))[0] : undefined
  if (found && (await client.getTraits(found.uuid)).traits.includes(STORAGE_TRAIT)) return found
  throw new PlacementBackendError('notFound', `no shared storage "${ref}"; ec storage list shows it`)
}

export async function describeStorage(client: PlacementClient, ref: string): Promise<StorageDetail> {
  return describeStorageProvider(client, await findStorage(client, ref))
}

export async function removeStorage(client: PlacementClient, id: string): Promise<void> {
  assertUuid(id, 'storage id')
  const provider = await client.getProvider(id)
  if (!provider) return
  if (!(await client.getTraits(id)).traits.includes(STORAGE_TRAIT)) {
    throw new PlacementBackendError('usage', `resource provider ${provider.name} (${id}) is not shared storage ec made; ec storage remove only removes those`)
  }

  try {
    await client.deleteProvider(id)
  } catch (error) {
    if (error instanceof PlacementApiError && error.status === 409 && error.code !== PlacementErrorCode.concurrentUpdate) {
      const {allocations} = await client.getProviderAllocations(id).catch(() => ({allocations: {}}))
      const count = Object.keys(allocations).length
      throw new PlacementBackendError(
        'conflict',
        `shared storage ${provider.name} holds the disks of ${count || 'some'} instance(s); delete them first (ec instance list), then remove it`,
        {cause: error},
      )
    }

    throw error
  }
}

async function describeStorageProvider(client: PlacementClient, provider: ResourceProvider): Promise<StorageDetail> {
  const detail = await providerDetail(client, provider)
  return {...detail, members: await memberHosts(client, detail.aggregates)}
}

/** ec hosts in any of the aggregates, by name. */
async function memberHosts(client: PlacementClient, aggregates: string[]): Promise<{id: string; name: string}[]> {
  if (aggregates.length === 0) return []
  try {
    const hosts = await client.listProviders({required: [EC_HOST_TRAIT], memberOf: [aggregates]})
    return hosts.map((h) => ({id: h.uuid, name: h.name})).sort((a, b) => a.name.localeCompare(b.name))
  } catch (error) {
    if (unknownTraitsIn(error)) return []
    throw error
  }
}

function goneAsUndefined(error: unknown): undefined {
  // Removed between the listing and the details.
  if (error instanceof PlacementApiError && error.status === 404) return undefined
  throw error
}
