// Why did GET /allocation_candidates come back empty? Only asked after it did
// (never on the success path): narrow the hosts down filter by filter and name
// the first one that leaves none, then the resource that ran out.
import type {ResourceRequest} from '@ec/plugin-api'

import {explainShortage, formatResources, type HostCapacity} from './capacity.js'
import type {PlacementClient} from './client.js'
import {mapLimit} from './concurrency.js'
import {PlacementBackendError} from './errors.js'
import {DISABLED_TRAIT, EC_HOST_TRAIT} from './names.js'

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

  const traitFilter = [...enabledTraits, ...request.requiredTraits, ...request.forbiddenTraits.map((trait) => `!${trait}`)]
  if (request.requiredTraits.length + request.forbiddenTraits.length > 0) {
    eligible = await client.listProviders({required: traitFilter})
    if (eligible.length === 0) {
      return `no enabled host matches the traits (${describeTraits(request)}); relax them or register a host that has them`
    }
  }

  const memberOf = request.memberOf.filter((anyOf) => anyOf.length > 0)
  if (memberOf.length > 0) {
    eligible = await client.listProviders({required: traitFilter, memberOf})
    if (eligible.length === 0) {
      const where = memberOf.map((anyOf) => `any of ${anyOf.join(', ')}`).join(' and ')
      const withTraits = request.requiredTraits.length + request.forbiddenTraits.length > 0 ? ' with the requested traits' : ''
      return `no enabled host${withTraits} is a member of ${where}; check the aggregates`
    }
  }

  const hosts = (
    await mapLimit(eligible, 8, async (provider): Promise<HostCapacity | undefined> => {
      try {
        const [inventories, usages] = await Promise.all([client.getInventories(provider.uuid), client.getUsages(provider.uuid)])
        return {name: provider.name, inventory: inventories.inventories, usage: usages.usages}
      } catch (error) {
        // A host deleted since the listing has no capacity to explain.
        if ((error as {status?: number}).status === 404) return undefined
        throw error
      }
    })
  ).filter((host) => host !== undefined)

  return (
    explainShortage(request.resources, hosts) ??
    `no host could take ${formatResources(request.resources)} when asked, but capacity has been freed since; try again`
  )
}

function namesOf(providers: {name: string}[]): string {
  const names = providers.slice(0, 5).map((provider) => provider.name)
  return providers.length > 5 ? `${names.join(', ')} and ${providers.length - 5} more` : names.join(', ')
}

function describeTraits(request: ResourceRequest): string {
  const parts: string[] = []
  if (request.requiredTraits.length > 0) parts.push(`required: ${request.requiredTraits.join(', ')}`)
  if (request.forbiddenTraits.length > 0) parts.push(`forbidden: ${request.forbiddenTraits.join(', ')}`)
  return parts.join('; ')
}
