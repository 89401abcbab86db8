import {join, resolve} from 'node:path'

import {defineSection, type DiskStrategy} from '@ec/plugin-api'

import {LibvirtBackendError} from './errors.js'

export type VirtTypeSetting = 'auto' | 'kvm' | 'qemu'
export type NetworkMode = 'user' | 'network' | 'bridge'

/** The `libvirt:` section as core validated it. */
export interface LibvirtSection {
  uri: string
  virtType: VirtTypeSetting
  network: {mode: NetworkMode; name?: string}
  diskStrategy: DiskStrategy
  /** The image partition `resize` expands into the bigger disk. */
  resizePartition: string
  /** With user networking: the host address guests' forwarded ports (SSH, --publish) listen on. */
  forwardAddress?: string
  instancesDir?: string
  imageCacheDir?: string
}

export type NetworkSettings = {mode: 'user'} | {mode: 'network' | 'bridge'; name: string}

/** The section with every default filled in and every directory absolute. */
export interface LibvirtSettings {
  uri: string
  virtType: VirtTypeSetting
  network: NetworkSettings
  diskStrategy: DiskStrategy
  resizePartition: string
  forwardAddress: string
  instancesDir: string
  imageCacheDir: string
}

export const libvirtSection = defineSection<Partial<LibvirtSection>>({
  key: 'libvirt',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      uri: {type: 'string', minLength: 1},
      virtType: {enum: ['auto', 'kvm', 'qemu']},
      network: {
        type: 'object',
        additionalProperties: false,
        required: ['mode'],
        properties: {
          mode: {enum: ['user', 'network', 'bridge']},
          name: {type: 'string', minLength: 1},
        },
        // A bridge has no sensible default name; a libvirt network does ("default").
        if: {properties: {mode: {const: 'bridge'}}},
        then: {required: ['mode', 'name']},
      },
      diskStrategy: {enum: ['overlay', 'copy', 'resize']},
      resizePartition: {type: 'string', pattern: '^/dev/[a-z]+[0-9]+$'},
      forwardAddress: {type: 'string', pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}$'},
      instancesDir: {type: 'string', minLength: 1},
      imageCacheDir: {type: 'string', minLength: 1},
    },
  },
  // No name here: core merges sections key by key, and a default name would
  // silently follow a switch to `bridge`.
  defaults: () => ({uri: 'qemu:///system', virtType: 'auto', network: {mode: 'user'}, diskStrategy: 'overlay', resizePartition: '/dev/sda1'}),
  env: {
    EC_LIBVIRT_URI: {key: 'uri', type: 'string'},
  },
})

/** Where guests' disks and the image cache live by default for qemu:///system. */
export const SYSTEM_DATA_DIR = '/var/lib/ec'

export function isSystemUri(uri: string): boolean {
  return /^qemu(\+\w+)?:\/\/[^/]*\/system/.test(uri)
}

export function resolveSettings(section: Partial<LibvirtSection>, stateDir: string): LibvirtSettings {
  const mode = section.network?.mode ?? 'user'
  let network: NetworkSettings
  if (mode === 'user') {
    network = {mode}
  } else {
    const name = section.network?.name ?? (mode === 'network' ? 'default' : undefined)
    // The schema already insists; this guards callers that skip core's validation.
    if (!name) throw new LibvirtBackendError('config', 'libvirt.network.name is required when libvirt.network.mode is bridge: name the bridge')
    network = {mode, name}
  }

  const uri = section.uri ?? 'qemu:///system'
  // The system daemon's qemu runs as its own user, which cannot enter a
  // private home directory: its guests' files live where libvirt's do.
  const base = isSystemUri(uri) ? SYSTEM_DATA_DIR : stateDir
  return {
    uri,
    virtType: section.virtType ?? 'auto',
    network,
    diskStrategy: section.diskStrategy ?? 'overlay',
    resizePartition: section.resizePartition ?? '/dev/sda1',
    forwardAddress: section.forwardAddress ?? '127.0.0.1',
    instancesDir: resolve(section.instancesDir ?? join(base, 'instances')),
    imageCacheDir: resolve(section.imageCacheDir ?? join(base, 'images')),
  }
}
