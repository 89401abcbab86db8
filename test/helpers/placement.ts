// Direct reads of Placement, so tests check allocations where they live
// (with the client certificate of the control plane that serves the URL).
import axios from 'axios'

import {httpsAgentFor} from './credentials.js'

const HEADERS = {'X-Auth-Token': 'admin', 'OpenStack-API-Version': 'placement 1.39'}

/** One request to Placement as its admin, with the registered client certificate; resolves whatever the status. */
export function placementRequest<T = unknown>(method: 'get' | 'post' | 'put' | 'delete', url: string, data?: unknown) {
  return axios.request<T>({method, url, data, headers: HEADERS, httpsAgent: httpsAgentFor(url), validateStatus: () => true})
}

async function get<T>(url: string): Promise<T> {
  const response = await placementRequest<T>('get', url)
  if (response.status >= 300) throw new Error(`GET ${url}: ${response.status} ${JSON.stringify(response.data)}`)
  return response.data
}

/** The consumer's allocations by provider uuid ({} when it holds none). */
export async function allocationsOf(placementUrl: string, consumer: string): Promise<Record<string, Record<string, number>>> {
  const body = await get<{allocations: Record<string, {resources: Record<string, number>}>}>(`${placementUrl}/allocations/${consumer}`)
  return Object.fromEntries(Object.entries(body.allocations).map(([rp, a]) => [rp, a.resources]))
}

/** Delete a consumer's allocations behind ec's back (as an operator or another service might). */
export async function deleteAllocations(placementUrl: string, consumer: string): Promise<void> {
  const url = `${placementUrl}/allocations/${consumer}`
  const response = await placementRequest('delete', url)
  if (response.status >= 300) throw new Error(`DELETE allocations of ${consumer}: ${response.status} ${JSON.stringify(response.data)}`)
}

/** Every consumer's allocation against one provider, by consumer id. */
export async function providerAllocations(placementUrl: string, provider: string): Promise<Record<string, Record<string, number>>> {
  const body = await get<{allocations: Record<string, {resources: Record<string, number>}>}>(`${placementUrl}/resource_providers/${provider}/allocations`)
  return Object.fromEntries(Object.entries(body.allocations).map(([consumer, a]) => [consumer, a.resources]))
}

export interface ProviderView {
  uuid: string
  name: string
  usages: Record<string, number>
  capacity: Record<string, number>
  traits: string[]
}

export async function providers(placementUrl: string): Promise<ProviderView[]> {
  const {resource_providers: list} = await get<{resource_providers: Array<{uuid: string; name: string}>}>(`${placementUrl}/resource_providers`)
  return Promise.all(
    list.map(async ({uuid, name}) => {
      const [{usages}, {inventories}, {traits}] = await Promise.all([
        get<{usages: Record<string, number>}>(`${placementUrl}/resource_providers/${uuid}/usages`),
        get<{inventories: Record<string, {total: number; reserved: number; allocation_ratio: number}>}>(
          `${placementUrl}/resource_providers/${uuid}/inventories`,
        ),
        get<{traits: string[]}>(`${placementUrl}/resource_providers/${uuid}/traits`),
      ])
      const capacity = Object.fromEntries(
        Object.entries(inventories).map(([cls, inv]) => [cls, Math.floor((inv.total - inv.reserved) * inv.allocation_ratio)]),
      )
      return {uuid, name, usages, capacity, traits}
    }),
  )
}
