// Placement's JSON documents as the API sends and takes them (microversions
// 1.28–1.39). snake_case on purpose: these are the wire shapes, converted to
// ec's contract types in the scheduler.

export interface VersionDocument {
  versions: {id: string; min_version: string; max_version: string; status: string}[]
}

export interface ResourceProvider {
  uuid: string
  name: string
  generation: number
  parent_provider_uuid: string | null
  root_provider_uuid: string
}

export interface WireInventory {
  total: number
  reserved?: number
  min_unit?: number
  max_unit?: number
  step_size?: number
  allocation_ratio?: number
}

export interface ProviderInventories {
  resource_provider_generation: number
  inventories: Record<string, Required<WireInventory>>
}

export interface ProviderUsages {
  resource_provider_generation: number
  usages: Record<string, number>
}

export interface ProviderTraits {
  resource_provider_generation: number
  traits: string[]
}

export interface ProviderAggregates {
  resource_provider_generation: number
  aggregates: string[]
}

/** One way to satisfy a request: resources per provider uuid. */
export interface AllocationRequest {
  allocations: Record<string, {resources: Record<string, number>}>
}

export interface ProviderSummary {
  resources: Record<string, {capacity: number; used: number}>
  traits?: string[]
  parent_provider_uuid?: string | null
  root_provider_uuid?: string
}

export interface AllocationCandidates {
  allocation_requests: AllocationRequest[]
  provider_summaries: Record<string, ProviderSummary>
}

export interface ProviderAllocations {
  allocations: Record<string, {resources: Record<string, number>}>
  resource_provider_generation: number
}

export interface ConsumerAllocations {
  allocations: Record<string, {resources: Record<string, number>; generation?: number}>
  consumer_generation?: number
  project_id?: string
  user_id?: string
}
