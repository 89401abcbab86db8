import {availableParallelism, homedir, hostname, networkInterfaces} from 'node:os'
import {join} from 'node:path'

import type {BackendKind, ClientCredentials, ControlPlaneAddress} from '@ec/plugin-api'

export interface ControlPlaneConfig {
  /** The address this controller's services listen on (`ec up --listen`). */
  host: string
  /** Mutual TLS: clients must present a certificate from the cluster CA (default on). */
  tls: boolean
  /** Allow plain HTTP on an address other than loopback (`--insecure`). */
  insecure: boolean
  etcd: {
    clientPort: number
    peerPort: number
    /** Every controller's address, this one's included (`--peers`); empty: a cluster of this machine alone. */
    peers: string[]
    /** With no peers: how many members to run on this machine, on consecutive loopback addresses (`--etcd-members`). */
    members: number
  }
  placement: {
    port: number
    /** sqlite (one machine), mariadb (a private mariadbd under the state directory) or an SQLAlchemy URL. */
    database: string
    /** gunicorn workers with a server database; SQLite always gets one. */
    workers: number
  }
  /** The private MariaDB `ec up --database mariadb` runs. */
  mariadb: {port: number}
  startTimeoutSeconds: number
}

export interface ComputeConfig {
  /** The host's name in Placement; default: the machine's hostname. */
  hostName: string
  /** The address other machines reach this host at, shown by ec host list; default: its first non-loopback IPv4. */
  address: string
  /** Builds and deletes that run at once; the rest wait in line. */
  workers: number
  leaseTtlSeconds: number
  /** On SIGTERM, how long in-flight work may finish before it is abandoned (and resumed on restart). */
  shutdownGraceSeconds: number
  /**
   * How often the agent lists its assignments, its guests and its host's
   * allocations and acts on any difference (besides the watch, which can miss
   * events): a missed assignment costs at most this long.
   */
  resyncSeconds: number
  /** With a metadata backend: how long a booted guest has to report in (phone home) before it is ERROR. */
  guestReadyTimeoutSeconds: number
  traits: string[]
  reserved: Record<string, number>
  allocationRatio: Record<string, number>
  /** Advertise these amounts instead of what the machine measures (tests, or to hold capacity back). */
  inventory: Record<string, number>
  /** NUMA nodes as child providers: auto (when the machine has more than one), off, or a topology. */
  numa: 'auto' | 'off' | {nodes: {cpus: string; memoryMb: number}[]}
}

export interface SchedulingConfig {
  /** A PENDING record older than this lost its `ec instance create`: it is stale. */
  pendingTimeoutSeconds: number
  /** How long `ec instance delete` waits for a live host to tear an instance down. */
  deleteTimeoutSeconds: number
  /** How long `ec instance create --wait` waits for ACTIVE. */
  waitTimeoutSeconds: number
  /** --user-data larger than this is refused before anything is scheduled (records live in etcd). */
  maxUserDataBytes: number
}

export interface FlavorConfig {
  vcpus: number
  memoryMb: number
  diskGb: number
  resources?: Record<string, number>
  traits?: string[]
  forbiddenTraits?: string[]
}

export interface ImageConfig {
  url?: string
  path?: string
  sha256?: string
  /** The user `ec instance ssh` logs in as (default debian). */
  user?: string
}

export interface CoreConfig {
  backends: Record<BackendKind, string>
  stateDir: string
  /** A credentials bundle (`ec cluster credentials`); default: <stateDir>/credentials.json when it exists. */
  credentials?: string
  controlPlane: ControlPlaneConfig
  compute: ComputeConfig
  scheduling: SchedulingConfig
  flavors: Record<string, FlavorConfig>
  images: Record<string, ImageConfig>
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
      tls: true,
      insecure: false,
      etcd: {clientPort: 2379, peerPort: 2380, peers: [], members: 1},
      placement: {port: 8778, database: 'sqlite', workers: availableParallelism()},
      // Not 3306: that is the system MariaDB's, which ec leaves alone.
      mariadb: {port: 3307},
      startTimeoutSeconds: 60,
    },
    compute: {
      hostName: hostname(),
      address: primaryAddress(),
      workers: 8,
      leaseTtlSeconds: 10,
      shutdownGraceSeconds: 30,
      resyncSeconds: 15,
      guestReadyTimeoutSeconds: 300,
      traits: [],
      reserved: {MEMORY_MB: 512},
      allocationRatio: {VCPU: 4, MEMORY_MB: 1, DISK_GB: 1},
      inventory: {},
      numa: 'auto',
    },
    scheduling: {pendingTimeoutSeconds: 120, deleteTimeoutSeconds: 120, waitTimeoutSeconds: 900, maxUserDataBytes: 65_536},
    flavors: {
      tiny: {vcpus: 1, memoryMb: 256, diskGb: 1},
      small: {vcpus: 1, memoryMb: 1024, diskGb: 10},
      medium: {vcpus: 2, memoryMb: 4096, diskGb: 40},
    },
    images: {},
  }
}

export function controlPlaneAddress(cp: ControlPlaneConfig, credentials?: ClientCredentials): ControlPlaneAddress {
  const members = etcdMemberAddresses(cp)
  return {
    host: cp.host,
    etcdClientPort: cp.etcd.clientPort,
    placementPort: cp.placement.port,
    etcdEndpoints: members.map((address) => `http://${urlHost(address)}:${cp.etcd.clientPort}`),
    // One Placement per controller; with --etcd-members the machine is one controller.
    placementUrls: (cp.etcd.peers.length > 0 ? cp.etcd.peers : [cp.host]).map((address) => `http://${urlHost(address)}:${cp.placement.port}`),
    credentials,
  }
}

/**
 * Every etcd member's address: the peers when given, else `members`
 * consecutive addresses from `host` (127.0.0.1, .2, .3: one machine trying out a cluster).
 */
export function etcdMemberAddresses(cp: ControlPlaneConfig): string[] {
  if (cp.etcd.peers.length > 0) return cp.etcd.peers
  if (cp.etcd.members <= 1) return [cp.host]
  const octets = cp.host.split('.').map(Number)
  return Array.from({length: cp.etcd.members}, (_, i) => [...octets.slice(0, 3), octets[3] + i].join('.'))
}

/** An address as the host part of a URL (IPv6 in brackets). */
export function urlHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address
}

/** The machine's first non-internal IPv4 address, else its hostname. */
function primaryAddress(): string {
  const addresses = Object.values(networkInterfaces()).flatMap((list) => list ?? [])
  return addresses.find((a) => a.family === 'IPv4' && !a.internal)?.address ?? hostname()
}

/** The local admin's credentials bundle, which `ec up` writes: the default of `credentials`. */
export function localCredentialsFile(stateDir: string): string {
  return join(stateDir, 'credentials.json')
}
