// A host whose agent runs holds its liveness key (hosts/<id>/alive) on a
// lease, and create schedules only onto such hosts. Tests that register hosts
// without running an agent put the key themselves, and take it away to play
// an agent that stopped.
import type {TransportBackend} from '@ec/plugin-api'

import type {AgentPresence} from '../../src/hosts/hosts.js'
import {keys} from '../../src/instances/keys.js'

export async function markAlive(transport: TransportBackend, hostId: string, name = 'test-host'): Promise<void> {
  const presence: AgentPresence = {name, pid: process.pid, since: new Date().toISOString(), version: 'test'}
  await transport.commit([], [{op: 'put', key: keys.alive(hostId), value: JSON.stringify(presence)}])
}

export async function markDown(transport: TransportBackend, hostId: string): Promise<void> {
  await transport.commit([], [{op: 'delete', key: keys.alive(hostId)}])
}
