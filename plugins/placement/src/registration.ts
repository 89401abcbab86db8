// Makes a host's resource provider look like the registration says: created
// or adopted by uuid, renamed if needed, inventory and traits replaced. Safe to
// repeat: a host re-registers on every start.
import {randomUUID} from 'node:crypto'

import type {HostIdentity, HostRegistration} from 'ec/plugins'

import type {PlacementClient} from './client.js'
import {PlacementApiError, PlacementBackendError, PlacementErrorCode} from './errors.js'
import {retryOnGenerationConflict} from './generations.js'
import {toWireInventories} from './inventory.js'
import {assertName, assertUuid, DISABLED_TRAIT, EC_HOST_TRAIT, isCustomName} from './names.js'
import type {ResourceProvider} from './wire.js'

export async function registerProvider(client: PlacementClient, host: HostRegistration): Promise<HostIdentity> {
  const id = host.id ?? randomUUID()
  assertUuid(id, 'host id')
  const resourceClasses = host.inventory.map((item) => item.resourceClass)
  for (const rc of resourceClasses) assertName(rc, 'resource class')
  for (const trait of host.traits) assertName(trait, 'trait')
  const traits = [...new Set([...host.traits, EC_HOST_TRAIT])]

  // Custom names must exist before an inventory or trait list may use them.
  await Promise.all([
    ...resourceClasses.filter(isCustomName).map((rc) => client.ensureResourceClass(rc)),
    ...traits.filter(isCustomName).map((trait) => client.ensureTrait(trait)),
  ])

  const provider = await createOrAdopt(client, id, host.name)

  await retryOnGenerationConflict(`the inventory of host ${host.name}`, async (tryNumber) => {
    const generation = tryNumber === 0 ? provider.generation : (await client.getInventories(id)).resource_provider_generation
    try {
      await client.setInventories(id, generation, toWireInventories(host.inventory))
    } catch (error) {
      throw explainInventoryError(error, host.name)
    }
  })

  await retryOnGenerationConflict(`the traits of host ${host.name}`, async () => {
    const current = await client.getTraits(id)
    // An operator's "disabled" outlives the host registering again on restart.
    const wanted = current.traits.includes(DISABLED_TRAIT) ? [...new Set([...traits, DISABLED_TRAIT])] : traits
    if (sameSet(current.traits, wanted)) return
    try {
      await client.setTraits(id, current.resource_provider_generation, wanted)
    } catch (error) {
      throw rejectedAsUsage(error, `Placement rejected the traits of host ${host.name}`)
    }
  })

  return {id, name: provider.name}
}

/** POST the provider; when the uuid exists already, take it over (renaming it if the name changed). */
async function createOrAdopt(client: PlacementClient, id: string, name: string): Promise<ResourceProvider> {
  try {
    return await client.createProvider(id, name)
  } catch (error) {
    if (!(error instanceof PlacementApiError && error.status === 409)) throw rejectedAsUsage(error, `Placement rejected host ${name}`)
  }

  const existing = await client.getProvider(id)
  if (!existing) {
    // The 409 was about the name: another provider has it.
    const [owner] = await client.listProviders({name})
    throw new PlacementBackendError(
      'conflict',
      `a resource provider named "${name}" already exists with id ${owner?.uuid ?? '(unknown)'}; register the host with that id or under another name`,
    )
  }

  if (existing.name === name) return existing
  try {
    return await client.renameProvider(id, name)
  } catch (error) {
    if (error instanceof PlacementApiError && error.code === PlacementErrorCode.duplicateName) {
      throw new PlacementBackendError('conflict', `cannot rename host ${existing.name} (${id}) to "${name}": another resource provider has that name`, {cause: error})
    }

    throw error
  }
}

function explainInventoryError(error: unknown, hostName: string): unknown {
  if (error instanceof PlacementApiError && error.code === PlacementErrorCode.inventoryInUse) {
    return new PlacementBackendError(
      'conflict',
      `the new inventory of host ${hostName} drops resources that instances still use (${error.detail}); release them first`,
      {cause: error},
    )
  }

  return rejectedAsUsage(error, `Placement rejected the inventory of host ${hostName}`)
}

/** A 400 here means the registration itself was wrong (unknown trait, reserved > total, ...). */
function rejectedAsUsage(error: unknown, prefix: string): unknown {
  if (error instanceof PlacementApiError && error.status === 400) {
    return new PlacementBackendError('usage', `${prefix}: ${error.detail}`, {cause: error})
  }

  return error
}

function sameSet(a: string[], b: string[]): boolean {
  const set = new Set(a)
  return a.length === b.length && b.every((item) => set.has(item))
}
