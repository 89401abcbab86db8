// The hypervisor fetches images, prepares disks and runs guests on one host.
// First-party: libvirt.
import type {Closable} from './backend.js'

export type BuildPhase = 'image' | 'disk' | 'define' | 'boot' | 'guest'
export type DiskStrategy = 'overlay' | 'copy' | 'resize'

export interface Progress {
  phase: BuildPhase
  percent?: number
  message?: string
}

export type ProgressReporter = (progress: Progress) => void

/** An image as core resolved it from --image: a URL or a local path, maybe with a checksum. */
export interface ImageSource {
  /** What the user asked for: URL, path or configured name. */
  ref: string
  url?: string
  path?: string
  sha256?: string
}

export interface ImageInfo {
  ref: string
  path: string
  format: string
  virtualSizeBytes: number
  sha256?: string
}

/** A port the host forwards into the guest: `host` is "ADDRESS:PORT" on the host. */
export interface PortForward {
  guest: number
  host: string
  proto: 'tcp' | 'udp'
}

/**
 * What start() throws when the guest could not start because another program
 * took one of its forwarded host ports after forwardPorts() handed it out:
 * the build asks forwardPorts() again and redefines (a port the user chose
 * itself cannot move: that build fails, saying so).
 */
export interface PortTakenError extends Error {
  /** The forward's host side as forwardPorts() gave it ("ADDRESS:PORT"). */
  takenPort: {host: string; proto: 'tcp' | 'udp'}
}

/** A forward asked for (`--publish HOST_PORT:GUEST_PORT/PROTO`); host port 0 = any free port. */
export interface PortRequest {
  guest: number
  host: number
  proto: 'tcp' | 'udp'
}

export interface Attachment {
  type: 'cdrom' | 'disk'
  path: string
}

export interface GuestSpec {
  id: string
  name: string
  vcpus: number
  memoryMb: number
  diskGb: number
  image: ImageSource
  diskStrategy?: DiskStrategy
  /** SMBIOS system fields, e.g. {serial: 'ds=nocloud-net;s=…'}. */
  smbios?: Record<string, string>
  attachments?: Attachment[]
  /** Host ports forwarded to the guest (from forwardPorts()). */
  forwards?: PortForward[]
  /** Host NUMA nodes the guest is pinned to; one guest cell per entry. Absent: not pinned. */
  numa?: GuestNumaCell[]
  /**
   * The directory the disk goes in: the shared storage the instance's
   * allocation takes DISK_GB from, as this host reaches it. Absent: where the
   * host keeps its own disks. destroy() removes the disk there too.
   */
  storageDir?: string
}

/** One guest NUMA cell placed on one host node: its share of vCPUs and memory, and the host CPUs it may run on. */
export interface GuestNumaCell {
  hostNode: number
  /** Host CPU numbers of that node. */
  hostCpus: number[]
  vcpus: number
  memoryMb: number
}

export interface PreparedDisk {
  path: string
  format: string
  sizeGb: number
}

export type GuestState = 'running' | 'paused' | 'shutoff' | 'crashed' | 'other'

/** Guests ec owns on this host (the hypervisor may run others, which ec ignores). */
export interface GuestSummary {
  id: string
  name: string
  state: GuestState
  /** False when only the guest's files are left (disk, console log) and no domain: destroy() cleans them. */
  defined: boolean
}

/** An image in the host's cache (downloaded from a URL). */
export interface CachedImage {
  url: string
  path: string
  bytes: number
  sha256: string
  /** A guest's disk on this host is an overlay of it. */
  inUse: boolean
}

/** What a hypervisor can do with a guest. Core asks only for what is listed here. */
export interface HypervisorCapabilities {
  /** Disk strategies prepareDisk() runs (GuestSpec.diskStrategy; absent there means the backend's default). */
  diskStrategies: DiskStrategy[]
  /** GuestSpec.smbios reaches the guest (the mdserver metadata backend's seed URL travels in the SMBIOS serial). */
  smbios: boolean
  /** GuestSpec.attachments of type `cdrom` are attached (a config drive needs it). */
  cdrom: boolean
  /** forwardPorts() gives guests host ports (user networking); without it, --publish and SSH forwarding are refused. */
  portForwarding: boolean
  /** GuestSpec.numa is honoured: guests are pinned to host NUMA nodes. */
  numaPinning: boolean
}

/** A host NUMA node: its CPUs and memory. */
export interface NumaNodeCapacity {
  node: number
  /** Host CPU numbers of that node. */
  cpus: number[]
  memoryMb: number
}

/** What the host has for guests, before the operator's reserved amounts and allocation ratios. */
export interface HostCapacity {
  vcpus: number
  memoryMb: number
  /** Of the filesystem guests' disks live on. */
  diskGb: number
  /** The host's NUMA nodes; empty when it has one (or the hypervisor cannot say). */
  numaNodes: NumaNodeCapacity[]
}

/** The host as its hypervisor sees it: reported to the scheduler by the agent at every start. */
export interface HostDescription {
  capacity: HostCapacity
  /**
   * What guests on this host get, as os-traits names (HW_CPU_X86_AVX2,
   * COMPUTE_ARCH_X86_64, COMPUTE_IMAGE_TYPE_QCOW2, …) or CUSTOM_* names
   * (CUSTOM_EC_DISK_OVERLAY, …: see diskStrategyTraits()); the scheduler
   * filters on them.
   */
  traits: string[]
  capabilities: HypervisorCapabilities
}

export interface HypervisorBackend extends Closable {
  /**
   * The host's capacity, traits and capabilities (hostCapacity(),
   * hostCpuTraits() and diskStrategyTraits() measure the common part).
   * Asked once when the agent starts.
   */
  describeHost(): Promise<HostDescription>
  /** Fetch (or find in the host's cache) and verify an image; concurrent calls share one download. */
  ensureImage(source: ImageSource, report: ProgressReporter, signal?: AbortSignal): Promise<ImageInfo>
  prepareDisk(spec: GuestSpec, image: ImageInfo, report: ProgressReporter): Promise<PreparedDisk>
  /** Define the guest; defining one that exists with the same id replaces its definition. */
  define(spec: GuestSpec, disk: PreparedDisk): Promise<void>
  /** Start a defined guest; starting a running one is not an error. A forwarded port taken meanwhile: a PortTakenError. */
  start(id: string): Promise<void>
  /** Stop, undefine and remove disks and per-guest files. Idempotent; works on half-made guests. */
  destroy(id: string): Promise<void>
  list(): Promise<GuestSummary[]>
  consoleLog(id: string): Promise<string>
  /** Addresses the hypervisor knows for the guest (may be empty). */
  guestAddresses(id: string): Promise<string[]>
  /**
   * Host ports for a guest whose network the host cannot reach directly
   * (NAT): `requested` plus SSH (guest port 22), each on a port no other
   * guest on this host has; an empty list where the guest's own address is
   * reachable. The ports are the guest's until destroy(). Core calls it
   * only when capabilities.portForwarding is true. Asked again for the same
   * guest (its start found a port taken), it picks new ports for those
   * requested as 0 and keeps the fixed ones.
   */
  forwardPorts?(id: string, requested: PortRequest[]): Promise<PortForward[]>
  /** The MAC address the guest's NIC gets, when the hypervisor chooses it. */
  macAddress?(id: string): string
  listImages(): Promise<CachedImage[]>
  /** Remove cached images no guest on this host uses; returns what was removed. */
  pruneImages(): Promise<CachedImage[]>
}
