// Tests that look behind the CLI: ec's own etcd transport and Placement
// scheduler on a test control plane, hosts registered straight into Placement
// (no agent), and a wipe back to nothing between tests.
import type {Inventory, TxnOp} from '@ec/plugin-api'

import {EtcdTransport} from '../../plugins/etcd/src/transport.js'
import {PlacementScheduler} from '../../plugins/placement/src/scheduler.js'
import type {TestControlPlane} from './control-plane.js'

export function etcdOf(cp: TestControlPlane): EtcdTransport {
  return new EtcdTransport({endpoints: [cp.etcdEndpoint], prefix: '/ec', timeoutMs: 5000, tls: cp.clientTls})
}

export function placementOf(cp: TestControlPlane): PlacementScheduler {
  return new PlacementScheduler({
    url: cp.placementUrl,
    tls: cp.clientTls,
    token: 'admin',
    projectId: 'ec',
    userId: 'ec',
    policy: 'pack',
    candidateLimit: 20,
    claimRounds: 3,
    timeoutMs: 10_000,
  })
}

/** A host's flat inventory, nothing reserved, no overcommit. */
export function flatInventory(amounts: {VCPU: number; MEMORY_MB: number; DISK_GB: number}): Inventory[] {
  return Object.entries(amounts).map(([resourceClass, total]) => ({resourceClass, total, reserved: 0, allocationRatio: 1}))
}

/** Every key under ec's etcd prefix deleted and every allocation on every host released. */
export async function wipe(transport: EtcdTransport, scheduler: PlacementScheduler): Promise<void> {
  const {items} = await transport.list('')
  if (items.length > 0) await transport.commit([], items.map((kv): TxnOp => ({op: 'delete', key: kv.key})))
  for (const host of await scheduler.listHosts()) {
    for (const consumer of Object.keys(await scheduler.hostAllocations(host.id))) await scheduler.release(consumer)
  }
}
