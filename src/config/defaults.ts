import {homedir} from 'node:os'
import {join} from 'node:path'

import type {BackendKind, ControlPlaneAddress} from '../plugins/backend.js'

export interface ControlPlaneConfig {
  host: string
  etcd: {clientPort: number; peerPort: number}
  placement: {port: number}
  startTimeoutSeconds: number
}

export interface CoreConfig {
  backends: Record<BackendKind, string>
  stateDir: string
  controlPlane: ControlPlaneConfig
}

/** `$XDG_STATE_HOME/ec`, else `~/.local/state/ec` (the XDG default). */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME?.trim() || join(env.HOME?.trim() || homedir(), '.local', 'state')
  return join(base, 'ec')
}

// etcd's and Placement's customary ports: a machine runs one control plane,
// and clients that know those services find them where they expect.
export function coreDefaults(env: NodeJS.ProcessEnv = process.env): CoreConfig {
  return {
    backends: {scheduler: 'placement', transport: 'etcd', hypervisor: 'libvirt', metadata: 'mdserver'},
    stateDir: defaultStateDir(env),
    controlPlane: {
      host: '127.0.0.1',
      etcd: {clientPort: 2379, peerPort: 2380},
      placement: {port: 8778},
      startTimeoutSeconds: 60,
    },
  }
}

export function controlPlaneAddress(cp: ControlPlaneConfig): ControlPlaneAddress {
  return {host: cp.host, etcdClientPort: cp.etcd.clientPort, placementPort: cp.placement.port}
}
