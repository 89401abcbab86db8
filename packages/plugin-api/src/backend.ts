// What a plugin hands to ec: one descriptor per backend. Descriptors are
// cheap, static objects; `create` loads the implementation lazily so that
// `ec --help` never pays for a gRPC stack or a libvirt binding.
import type {HypervisorBackend} from './hypervisor.js'
import type {MetadataBackend} from './metadata.js'
import type {SchedulerBackend} from './scheduler.js'
import type {TransportBackend} from './transport.js'

export const BACKEND_KINDS = ['scheduler', 'transport', 'hypervisor', 'metadata'] as const
export type BackendKind = (typeof BACKEND_KINDS)[number]

export interface BackendsByKind {
  scheduler: SchedulerBackend
  transport: TransportBackend
  hypervisor: HypervisorBackend
  metadata: MetadataBackend
}

/** Where the local control plane (`ec up`) listens, for defaults that point at it. */
export interface ControlPlaneAddress {
  host: string
  etcdClientPort: number
  placementPort: number
  /** Every etcd member's client URL: clients are given them all. */
  etcdEndpoints: string[]
  /** Every controller's Placement URL: clients fail over between them. */
  placementUrls: string[]
  /** Set when a credentials bundle is in use: clients take its endpoints and authenticate with it. */
  credentials?: ClientCredentials
}

/**
 * Where a client's credentials come from: a bundle file (`ec cluster
 * credentials`, or the local admin's `<stateDir>/credentials.json`), JSON
 * with `name`, `ca`, `cert`, `key` (PEM) and the endpoints below.
 */
export interface ClientCredentials {
  file: string
  etcdEndpoints: string[]
  placementUrls: string[]
}

/** A plain JSON Schema object (draft-07, as ajv reads it). */
export type JsonSchema = Record<string, unknown>

export interface EnvOverride {
  /** Key inside the section, e.g. `endpoints`. */
  key: string
  type: 'string' | 'list' | 'integer' | 'boolean'
}

/**
 * A configuration section a plugin owns, e.g. `etcd:` or `placement:`. Core
 * validates it with `schema`, fills it from `defaults`, and applies `env`.
 * Mark a credential (password, token, private key material) in the schema
 * with the standard annotation `writeOnly: true`: core never prints its value.
 */
export interface ConfigSection<S extends object = Record<string, unknown>> {
  key: string
  schema: JsonSchema
  /** Values for keys the user did not set; what the user sets is laid over them, key by key. */
  defaults(controlPlane: ControlPlaneAddress): Partial<S>
  env?: Record<string, EnvOverride>
}

export interface Logger {
  debug(message: string): void
  info(message: string): void
  warn(message: string): void
}

export interface BackendContext<S extends object = Record<string, unknown>> {
  /** The backend's own config section, defaults filled in and validated against its schema (empty when it has none). */
  section: Readonly<S>
  /** The whole effective configuration, read-only. */
  config: Readonly<Record<string, unknown>>
  /** A directory the backend may keep state in (created on demand). */
  stateDir: string
  log: Logger
  /**
   * The process opening the backend is a short-lived CLI command that makes
   * a few calls and exits (`ec instance list`, `show`, `create`, completion):
   * a backend may trade what only long-lived processes need for a quicker
   * start. Agents, `ec up` and every other long-running process leave it unset.
   */
  shortLived?: boolean
}

export interface BackendDescriptor<K extends BackendKind = BackendKind> {
  kind: K
  /** What config's `backends.<kind>` names to pick it. */
  name: string
  description: string
  config?: ConfigSection
  create(context: BackendContext): Promise<BackendsByKind[K]>
}

/**
 * The shape of a backend's own health probe, for backends that offer one
 * (the first-party ones do, for their tests and diagnostics). Core does not
 * call it: a service that does not answer is reported by the call that needed
 * it, with reason `unavailable`.
 */
export interface ServiceHealth {
  ok: boolean
  endpoint: string
  version?: string
  detail?: string
}

export interface Closable {
  /** Release connections, servers and timers. Core calls it once, when the command or agent ends. */
  close(): Promise<void>
}
