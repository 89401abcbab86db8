import {EcCommand} from '../../ec-command.js'
import {hostIdOfAliveKey, keys} from '../../instances/keys.js'
import {renderTable} from '../../output/table.js'
import type {HostUsage} from '../../plugins/scheduler.js'

export interface HostListing extends HostUsage {
  alive: boolean
  /** What the agent put in its liveness key: pid and since when. */
  agent?: {pid: number; since: string}
}

export default class HostList extends EcCommand<typeof HostList> {
  static override summary = 'List compute hosts with capacity, usage, scheduling state and liveness.'
  static override examples = ['<%= config.bin %> host list', '<%= config.bin %> host list --json']
  static override enableJsonFlag = true

  async run(): Promise<HostListing[]> {
    const config = await this.effectiveConfig()
    const transport = await this.backend(config, 'transport')
    const scheduler = await this.backend(config, 'scheduler')
    const [hosts, {items}] = await Promise.all([scheduler.listHosts(), transport.list(keys.hosts())])
    const alive = new Map<string, {pid: number; since: string}>()
    for (const kv of items) {
      const id = hostIdOfAliveKey(kv.key)
      if (id) alive.set(id, JSON.parse(kv.value) as {pid: number; since: string})
    }

    const listing = hosts
      .map((h) => ({...h, alive: alive.has(h.id), agent: alive.get(h.id)}))
      .sort((a, b) => a.name.localeCompare(b.name))
    const usage = (h: HostUsage, cls: string) => {
      const inv = h.inventory.find((i) => i.resourceClass === cls)
      if (!inv) return '-'
      const capacity = Math.floor((inv.total - inv.reserved) * inv.allocationRatio)
      return `${h.usage[cls] ?? 0}/${capacity}`
    }

    this.log(
      renderTable(
        ['name', 'id', 'alive', 'schedulable', 'vcpu', 'memory_mb', 'disk_gb'],
        listing.map((h) => [h.name, h.id, h.alive ? 'yes' : 'no', h.schedulable ? 'yes' : 'no', usage(h, 'VCPU'), usage(h, 'MEMORY_MB'), usage(h, 'DISK_GB')]),
      ),
    )
    return listing
  }
}
