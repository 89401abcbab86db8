// The `qemu:` config section: where guests and images live, which qemu runs
// them and how.
import {join, resolve} from 'node:path'

import {defineSection, type DiskStrategy} from '@ec/plugin-api/hooks'

export type Accel = 'tcg' | 'kvm'

export interface QemuSettings {
  /** The emulator binary (a name on PATH or a path). */
  binary: string
  /** tcg works everywhere; kvm needs /dev/kvm. */
  accel: Accel
  /** qemu's -machine type. */
  machine: string
  diskStrategy: Exclude<DiskStrategy, 'resize'>
  /** The host address forwarded ports (SSH, --publish) listen on. */
  forwardAddress: string
  /** How long destroy() waits for the guest to power off after ACPI powerdown before it quits qemu. */
  shutdownTimeoutSeconds: number
  /** One directory per guest: disk, console log, pidfile, QMP socket, definition. */
  guestsDir: string
  imageCacheDir: string
}

export const qemuSection = defineSection<Partial<QemuSettings>>({
  key: 'qemu',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      binary: {type: 'string', minLength: 1},
      accel: {enum: ['tcg', 'kvm']},
      machine: {type: 'string', pattern: '^[A-Za-z0-9._-]+$'},
      diskStrategy: {enum: ['overlay', 'copy']},
      forwardAddress: {type: 'string', pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}$'},
      shutdownTimeoutSeconds: {type: 'integer', minimum: 0, maximum: 3600},
      guestsDir: {type: 'string', minLength: 1},
      imageCacheDir: {type: 'string', minLength: 1},
    },
  },
  defaults: () => ({binary: 'qemu-system-x86_64', accel: 'tcg', machine: 'pc', diskStrategy: 'overlay', forwardAddress: '127.0.0.1', shutdownTimeoutSeconds: 10}),
  env: {
    EC_QEMU_BINARY: {key: 'binary', type: 'string'},
    EC_QEMU_ACCEL: {key: 'accel', type: 'string'},
  },
})

export function resolveSettings(section: Partial<QemuSettings>, stateDir: string): QemuSettings {
  return {
    binary: section.binary ?? 'qemu-system-x86_64',
    accel: section.accel ?? 'tcg',
    machine: section.machine ?? 'pc',
    diskStrategy: section.diskStrategy ?? 'overlay',
    forwardAddress: section.forwardAddress ?? '127.0.0.1',
    shutdownTimeoutSeconds: section.shutdownTimeoutSeconds ?? 10,
    guestsDir: resolve(section.guestsDir ?? join(stateDir, 'qemu')),
    imageCacheDir: resolve(section.imageCacheDir ?? join(stateDir, 'qemu-images')),
  }
}
