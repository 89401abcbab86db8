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

export interface ImageInfo {
  /** What the user asked for: URL, path or configured name. */
  ref: string
  path: string
  format: string
  virtualSizeBytes: number
  sha256?: string
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
  image: string
  diskStrategy?: DiskStrategy
  /** SMBIOS system fields, e.g. {serial: 'ds=nocloud-net;s=…'}. */
  smbios?: Record<string, string>
  attachments?: Attachment[]
}

export interface PreparedDisk {
  path: string
  format: string
  sizeGb: number
}

export type GuestState = 'running' | 'paused' | 'shutoff' | 'crashed' | 'other'

export interface GuestSummary {
  id: string
  name: string
  state: GuestState
}

export interface HypervisorBackend extends Closable {
  ensureImage(ref: string, report: ProgressReporter, signal?: AbortSignal): Promise<ImageInfo>
  prepareDisk(spec: GuestSpec, image: ImageInfo, report: ProgressReporter): Promise<PreparedDisk>
  define(spec: GuestSpec, disk: PreparedDisk): Promise<void>
  start(id: string): Promise<void>
  /** Stop, undefine and remove disks and per-guest files. Idempotent; works on half-made guests. */
  destroy(id: string): Promise<void>
  list(): Promise<GuestSummary[]>
  consoleLog(id: string): Promise<string>
  /** Addresses the hypervisor knows for the guest (may be empty). */
  guestAddresses(id: string): Promise<string[]>
}
