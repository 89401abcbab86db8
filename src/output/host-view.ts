// `ec host show` as text: each provider of the host's tree with inventory,
// usage, traits and aggregates, then the shared storage it reaches.
import type {HostDetail, ProviderDetail} from '@ec/plugin-api'
import {renderTable} from './table.js'

export function describeHostDetail(host: HostDetail): string {
  const lines = [`${host.name} (${host.id}) ${host.schedulable ? 'schedulable' : 'disabled'}`]
  for (const provider of host.providers) lines.push('', ...describeProvider(provider, provider.id === host.id ? 'host' : 'NUMA node'))
  for (const storage of host.sharedStorage) lines.push('', ...describeProvider(storage, 'shared storage'))
  return lines.join('\n')
}

function describeProvider(provider: ProviderDetail, kind: string): string[] {
  const rows = provider.inventory.map((item) => {
    const capacity = Math.floor((item.total - item.reserved) * item.allocationRatio)
    return [item.resourceClass, provider.usage[item.resourceClass] ?? 0, capacity, item.total, item.reserved, item.allocationRatio]
  })
  return [
    `${kind} ${provider.name} (${provider.id})`,
    rows.length > 0 ? renderTable(['class', 'used', 'capacity', 'total', 'reserved', 'ratio'], rows) : '  no inventory',
    `  traits: ${provider.traits.join(', ') || '-'}`,
    `  aggregates: ${provider.aggregates.join(', ') || '-'}`,
  ]
}
