// Hosts as the operator sees them: a scheduler provider, what its agent put in
// etcd (liveness, address, version) and an operator's "disabled" marker. The
// marker lives in etcd, not only in the provider's traits, so an agent that
// restarts can tell an operator's disable from its own shutdown.
import {EcError} from '../errors.js'
import {keys} from '../instances/keys.js'
import type {SchedulerBackend, HostUsage, TransportBackend} from '@ec/plugin-api'

/** What the agent writes in its liveness key. */
export interface AgentPresence {
  name: string
  pid: number
  since: string
  /** The address the host is reached at (compute.address). */
  address?: string
  /** The ec version the agent runs. */
  version?: string
}

export interface DisabledMarker {
  reason?: string
  since: string
}

/** A host by name or provider uuid, or reason notFound naming what exists. */
export async function findHost(scheduler: SchedulerBackend, ref: string): Promise<HostUsage> {
  const hosts = await scheduler.listHosts()
  const host = hosts.find((h) => h.id === ref) ?? hosts.find((h) => h.name === ref)
  if (!host) {
    const known = hosts.map((h) => h.name).join(', ') || 'none'
    throw new EcError('notFound', `no host named or with id "${ref}" (hosts: ${known}); see ec host list`)
  }

  return host
}

export async function disabledMarker(transport: TransportBackend, hostId: string): Promise<DisabledMarker | undefined> {
  const kv = await transport.get(keys.disabled(hostId))
  return kv ? (JSON.parse(kv.value) as DisabledMarker) : undefined
}

export async function isAlive(transport: TransportBackend, hostId: string): Promise<boolean> {
  return (await transport.get(keys.alive(hostId))) !== undefined
}
