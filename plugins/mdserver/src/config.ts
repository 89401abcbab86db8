// The `metadata:` config section, shared by both backends of this plugin
// (mdserver and configdrive), and its resolution against the backend's state
// directory into the settings the server and the backends run with.
import {isAbsolute, join, resolve} from 'node:path'

import {defineSection} from '@ec/plugin-api'

/** The section as config holds it (after defaults, file and environment). */
export interface MetadataSection {
  /** Where the HTTP server listens. Loopback unless guests reach it another way. */
  host: string
  port: number
  /** The URL base the guest uses to reach the server; default http://10.0.2.2:<port> (libvirt user networking). */
  guestBaseUrl?: string
  /** Where published instances are kept; relative to the backend's state directory. Default <stateDir>/metadata. */
  dataDir?: string
  maxUserDataBytes: number
  /** Address-checked EC2 and OpenStack layouts (/latest/…, /openstack/…). */
  ec2: {enabled: boolean}
  /** Added to every instance's public keys. */
  defaultPublicKeys: string[]
  /**
   * When an instance has no vendor-data, serve one that makes cloud-init's
   * phone_home module POST to the instance's own phone-home URL once it booted
   * (the guest cannot know its token otherwise). Default true.
   */
  vendorPhoneHome: boolean
}

/** Everything resolved: absolute data directory, the guest URL base without a trailing slash. */
export interface MetadataSettings {
  host: string
  port: number
  guestBaseUrl: string
  dataDir: string
  maxUserDataBytes: number
  ec2: {enabled: boolean}
  defaultPublicKeys: string[]
  vendorPhoneHome: boolean
}

export const DEFAULT_PORT = 8775
export const DEFAULT_MAX_USER_DATA_BYTES = 64 * 1024

export const metadataSection = defineSection<Partial<MetadataSection>>({
  key: 'metadata',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      host: {type: 'string', minLength: 1},
      port: {type: 'integer', minimum: 1, maximum: 65_535},
      guestBaseUrl: {type: 'string', pattern: '^https?://[^/]+(/.*)?$'},
      dataDir: {type: 'string', minLength: 1},
      maxUserDataBytes: {type: 'integer', minimum: 1, maximum: 16 * 1024 * 1024},
      ec2: {
        type: 'object',
        additionalProperties: false,
        properties: {enabled: {type: 'boolean'}},
      },
      defaultPublicKeys: {type: 'array', items: {type: 'string', minLength: 1}},
      vendorPhoneHome: {type: 'boolean'},
    },
  },
  // guestBaseUrl and dataDir are left out on purpose: they follow the port
  // (which EC_METADATA_PORT may change) and the backend's state directory.
  defaults: () => ({
    host: '127.0.0.1',
    port: DEFAULT_PORT,
    maxUserDataBytes: DEFAULT_MAX_USER_DATA_BYTES,
    ec2: {enabled: false},
    defaultPublicKeys: [],
    vendorPhoneHome: true,
  }),
  env: {
    EC_METADATA_PORT: {key: 'port', type: 'integer'},
  },
})

/**
 * Fill in what the section leaves to the runtime. `stateDir` is the backend's
 * state directory (BackendContext.stateDir); a relative dataDir is taken from it.
 */
export function resolveMetadataSettings(s: Readonly<Partial<MetadataSection>>, stateDir: string): MetadataSettings {
  const port = s.port ?? DEFAULT_PORT
  const dataDir = s.dataDir === undefined ? join(stateDir, 'metadata') : isAbsolute(s.dataDir) ? s.dataDir : resolve(stateDir, s.dataDir)
  return {
    host: s.host ?? '127.0.0.1',
    port,
    guestBaseUrl: (s.guestBaseUrl ?? `http://10.0.2.2:${port}`).replace(/\/+$/, ''),
    dataDir,
    maxUserDataBytes: s.maxUserDataBytes ?? DEFAULT_MAX_USER_DATA_BYTES,
    ec2: {enabled: s.ec2?.enabled ?? false},
    defaultPublicKeys: [...(s.defaultPublicKeys ?? [])],
    vendorPhoneHome: s.vendorPhoneHome ?? true,
  }
}
