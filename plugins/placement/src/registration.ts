// Makes a host's resource provider look like the registration says: created
// or adopted by uuid, renamed if needed, inventory and traits replaced. Safe to
// repeat: a host re-registers on every start.
import {randomUUID} from 'node:crypto'

import type {HostIdentity, HostRegistration, Inventory, NumaNodeRegistration} from '@ec/plugin-api'

import type {PlacementClient} from './client.js'
import {PlacementApiError, PlacementBackendError, PlacementErrorCode} from './errors.js'
import {retryOnGenerationConflict} from './generations.js'
import {toWireInventories} from './inventory.js'
import {assertName, assertUuid, CONSUMER_TYPE, derivedUuid, EC_HOST_TRAIT, isCustomName, isHostReportedTrait, NUMA_NODE_TRAIT} from './names.js'
import type {ResourceProvider} from './wire.js'

export async function registerProvider(client: PlacementClient, host: HostRegistration): Promise<HostIdentity> {
  const id = host.id ?? randomUUID()
  assertUuid(id, 'host id')
  const nodes = host.numaNodes ?? []
  const resourceClasses = [...host.inventory, ...nodes.flatMap((n) => n.inventory)].map((item) => item.resourceClass)
  for (const rc of resourceClasses) assertName(rc, 'resource class')
  for (const trait of host.traits) assertName(trait, 'trait')
  const traits = [...new Set([...host.traits, EC_HOST_TRAIT])]

  // Custom names must exist before an inventory or trait list may use them.
  await Promise.all([
    ...[...new Set(resourceClasses)].filter(isCustomName).map((rc) => client.ensureResourceClass(rc)),
    ...traits.filter(isCustomName).map((trait) => client.ensureTrait(trait)),
  ])

  const provider = await createOrAdopt(client, id, host.name)
  const children = await registerNumaNodes(client, provider, nodes)
  // Children first: a flat host's allocations move to a node before the root gives its VCPU and memory up.
  await moveOffRoot(client, id, host.inventory, children)
  await setInventory(client, id, host.name, host.inventory)
  await removeStaleNodes(client, id, host.name, host.inventory, children)
  await syncTraits(client, id, host.name, traits, host.previousTraits ?? [])
  const numaNodeIds = Object.fromEntries(children.map((c) => [c.node, c.id]))
  return children.length > 0 ? {id, name: provider.name, numaNodeIds} : {id, name: provider.name}
}

interface RegisteredNode {
  id: string
  node: number
  inventory: Inventory[]
}

/** The NUMA child of a host: its uuid follows from the host's and the node number, so it survives restarts. */
export function numaNodeProviderId(hostId: string, node: number): string {
  return derivedUuid(hostId, `numa-node-${node}`)
}

export function numaNodeProviderName(hostName: string, node: number): string {
  return `${hostName}_NUMA${node}`
}

async function registerNumaNodes(client: PlacementClient, root: ResourceProvider, nodes: NumaNodeRegistration[]): Promise<RegisteredNode[]> {
  const registered: RegisteredNode[] = []
  for (const {node, inventory} of nodes) {
    const id = numaNodeProviderId(root.uuid, node)
    const name = numaNodeProviderName(root.name, node)
    await createOrAdopt(client, id, name, root.uuid)
    await setInventory(client, id, name, inventory)
    await syncTraits(client, id, name, [NUMA_NODE_TRAIT], [])
    registered.push({id, node, inventory})
  }

  return registered
}

/**
 * Converting in place: allocations that take a class from the root which the
 * root will no longer hold (a flat host becoming a NUMA tree) move to a node
 * with room.
 */
async function moveOffRoot(client: PlacementClient, rootId: string, rootInventory: Inventory[], nodes: RegisteredNode[]): Promise<void> {
  if (nodes.length === 0) return
  const kept = new Set(rootInventory.map((i) => i.resourceClass))
  await moveAllocations(client, rootId, (rc) => !kept.has(rc), (wanted) => nodeWithRoom(client, nodes, wanted))
}

/**
 * Rewrites, consumer by consumer with its generation, every allocation that
 * takes a selected class from `fromId` to take it from the provider `targetFor`
 * picks instead. Nothing is released on the way: the consumer holds its
 * resources throughout.
 */
async function moveAllocations(
  client: PlacementClient,
  fromId: string,
  selected: (resourceClass: string) => boolean,
  targetFor: (wanted: Record<string, number>) => Promise<string>,
): Promise<void> {
  const {allocations} = await client.getProviderAllocations(fromId)
  for (const consumerId of Object.keys(allocations)) {
    await retryOnGenerationConflict(`the allocations of consumer ${consumerId}`, async () => {
      const current = await client.getAllocations(consumerId)
      const held = current.allocations[fromId]?.resources ?? {}
      const moving = Object.entries(held).filter(([rc]) => selected(rc))
      if (moving.length === 0) return
      const target = await targetFor(Object.fromEntries(moving))
      const next: Record<string, Record<string, number>> = {}
      for (const [provider, {resources}] of Object.entries(current.allocations)) next[provider] = {...resources}
      for (const [rc, amount] of moving) {
        delete next[fromId][rc]
        next[target] = {...next[target], [rc]: (next[target]?.[rc] ?? 0) + amount}
      }

      if (Object.keys(next[fromId]).length === 0) delete next[fromId]
      await client.putAllocations(consumerId, {
        allocations: next,
        projectId: current.project_id ?? 'ec',
        userId: current.user_id ?? 'ec',
        consumerGeneration: current.consumer_generation ?? null,
        consumerType: CONSUMER_TYPE,
      })
    })
  }
}

async function nodeWithRoom(client: PlacementClient, nodes: RegisteredNode[], wanted: Record<string, number>): Promise<string> {
  for (const node of nodes) {
    const {usages} = await client.getUsages(node.id)
    const fits = Object.entries(wanted).every(([rc, amount]) => {
      const inventory = node.inventory.find((i) => i.resourceClass === rc)
      return inventory !== undefined && (usages[rc] ?? 0) + amount <= (inventory.total - inventory.reserved) * inventory.allocationRatio
    })
    if (fits) return node.id
  }

  throw new PlacementBackendError('conflict', `no NUMA node has room for an existing allocation of ${JSON.stringify(wanted)}; free it, then start the agent again`)
}

/**
 * Children of the host that are no longer NUMA nodes of it (the machine
 * changed, or NUMA was turned off): their allocations move to the root when it
 * now holds those classes, else to a remaining node with room; then the child
 * goes.
 */
async function removeStaleNodes(client: PlacementClient, rootId: string, hostName: string, rootInventory: Inventory[], nodes: RegisteredNode[]): Promise<void> {
  const current = new Set(nodes.map((node) => node.id))
  const onRoot = new Set(rootInventory.map((i) => i.resourceClass))
  const tree = await client.listProviders({inTree: rootId})
  for (const child of tree.filter((p) => p.parent_provider_uuid === rootId && !current.has(p.uuid))) {
    const traits = await client.getTraits(child.uuid)
    if (!traits.traits.includes(NUMA_NODE_TRAIT)) continue // not ec's
    await moveAllocations(
      client,
      child.uuid,
      () => true,
      async (wanted) => (Object.keys(wanted).every((rc) => onRoot.has(rc)) ? rootId : nodeWithRoom(client, nodes, wanted)),
    ).catch((error: unknown) => {
      if (error instanceof PlacementApiError && error.status === 409) {
        throw new PlacementBackendError('conflict', `host ${hostName} lost NUMA node provider ${child.name} and its instances do not fit elsewhere on the host (${error.detail}); delete some of them first`, {cause: error})
      }

      throw error
    })
    try {
      await client.deleteProvider(child.uuid)
    } catch (error) {
      if (error instanceof PlacementApiError && error.status === 409) {
        throw new PlacementBackendError('conflict', `host ${hostName} lost NUMA node provider ${child.name}, which instances still use; delete them first`, {cause: error})
      }

      throw error
    }
  }
}

async function setInventory(client: PlacementClient, id: string, name: string, inventory: Inventory[]): Promise<void> {
  await retryOnGenerationConflict(`the inventory of ${name}`, async () => {
    const {resource_provider_generation: generation} = await client.getInventories(id)
    try {
      await client.setInventories(id, generation, toWireInventories(inventory))
    } catch (error) {
      throw explainInventoryError(error, name)
    }
  })
}

/** The host's reported traits replace what it reported before; other traits (operators', COMPUTE_STATUS_DISABLED) stay. */
async function syncTraits(client: PlacementClient, id: string, name: string, reported: string[], previous: string[]): Promise<void> {
  const reportedSet = new Set(reported)
  const previousSet = new Set(previous)
  await retryOnGenerationConflict(`the traits of ${name}`, async () => {
    const current = await client.getTraits(id)
    const others = current.traits.filter((t) => !reportedSet.has(t) && !previousSet.has(t) && !isHostReportedTrait(t))
    const wanted = [...reported, ...others]
    if (sameSet(current.traits, wanted)) return
    try {
      await client.setTraits(id, current.resource_provider_generation, wanted)
    } catch (error) {
      throw rejectedAsUsage(error, `Placement rejected the traits of ${name}`)
    }
  })
}

/** POST the provider; when the uuid exists already, take it over (renaming it if the name changed). */
async function createOrAdopt(client: PlacementClient, id: string, name: string, parentId?: string): Promise<ResourceProvider> {
  try {
    return await client.createProvider(id, name, parentId)
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

  const reparent = parentId !== undefined && existing.parent_provider_uuid !== parentId
  if (existing.name === name && !reparent) return existing
  try {
    return await client.updateProvider(id, name, reparent ? parentId : undefined)
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
