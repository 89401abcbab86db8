import {EcCommand} from '../../ec-command.js'
import type {AgentPresence, DisabledMarker} from '../../hosts/hosts.js'
import {hostIdOfAliveKey, hostIdOfDisabledKey, keys} from '../../instances/keys.js'
import {type ListingSpec, listingFlags, planListing} from '../../output/listing.js'
import type {HostUsage} from '@ec/plugin-api'

export interface HostListing extends HostUsage {
  alive: boolean
  /** What the agent put in its liveness key: pid, since when, address and ec version. */
  agent?: AgentPresence
  /** Set by ec host disable, with its reason. */
  disabled?: DisabledMarker
}

export default class HostList extends EcCommand<typeof HostList> {
  static override summary = 'List compute hosts with capacity, usage, scheduling state and liveness.'
  static override examples = ['<%= config.bin %> host list', '<%= config.bin %> host list --json']
  static override enableJsonFlag = true
  static override flags = {...listingFlags}

  async run(): Promise<HostListing[]> {
    const plan = planListing(HOST_LISTING, this.flags)
    const config = await this.effectiveConfig()
    const transport = await this.backend(config, 'transport', {shortLived: true})
    const scheduler = await this.backend(config, 'scheduler')
    const [hosts, {items}] = await Promise.all([scheduler.listHosts(), transport.list(keys.hosts())])
    const alive = new Map<string, AgentPresence>()
    const disabled = new Map<string, DisabledMarker>()
    for (const kv of items) {
      const id = hostIdOfAliveKey(kv.key)
      if (id) alive.set(id, JSON.parse(kv.value) as AgentPresence)
      const disabledId = hostIdOfDisabledKey(kv.key)
      if (disabledId) disabled.set(disabledId, JSON.parse(kv.value) as DisabledMarker)
    }

    const listing = hosts
      .map((h) => ({...h, alive: alive.has(h.id), agent: alive.get(h.id), disabled: disabled.get(h.id)}))
      .sort((a, b) => a.name.localeCompare(b.name))
    return this.printListing(listing, plan)
  }
}

/** used/capacity of one resource class, as the table shows it. */
function usage(h: HostUsage, cls: string): string {
  const inv = h.inventory.find((i) => i.resourceClass === cls)
  if (!inv) return '-'
  const capacity = Math.floor((inv.total - inv.reserved) * inv.allocationRatio)
  return `${h.usage[cls] ?? 0}/${capacity}`
}

const yesNo = (v: unknown) => (v ? 'yes' : 'no')

const HOST_LISTING: ListingSpec<HostListing> = {
  id: (h) => h.name,
  columns: [
    {name: 'name', value: (h) => h.name},
    {name: 'id', value: (h) => h.id},
    {name: 'alive', value: (h) => yesNo(h.alive)},
    {name: 'schedulable', value: (h) => yesNo(h.schedulable)},
    {name: 'address', value: (h) => h.agent?.address ?? '-'},
    {name: 'version', value: (h) => h.agent?.version ?? '-'},
    {name: 'disabled', value: (h) => (h.disabled ? (h.disabled.reason ?? 'yes') : '-')},
    {name: 'vcpu', value: (h) => h.usage.VCPU ?? 0, format: (_, h) => usage(h, 'VCPU')},
    {name: 'memory_mb', value: (h) => h.usage.MEMORY_MB ?? 0, format: (_, h) => usage(h, 'MEMORY_MB')},
    {name: 'disk_gb', value: (h) => h.usage.DISK_GB ?? 0, format: (_, h) => usage(h, 'DISK_GB')},
  ],
}
