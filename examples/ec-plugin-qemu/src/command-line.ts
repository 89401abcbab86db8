// The qemu command line of a guest: a pure function of what the guest is and
// where its files live, so it is tested without qemu and shown as it is (the
// definition keeps it, and bench/boot starts a bare qemu with the same one).
import {createHash} from 'node:crypto'
import {join} from 'node:path'

import type {GuestSpec, PreparedDisk} from '@ec/plugin-api'

import type {QemuSettings} from './config.js'
import {QemuBackendError} from './errors.js'

/** The fields qemu's -smbios type=1 takes. */
export const SMBIOS_SYSTEM_FIELDS = ['manufacturer', 'product', 'version', 'serial', 'uuid', 'sku', 'family'] as const

/** Where one guest's files are: everything ec made for it is in `dir`. */
export class GuestPaths {
  constructor(readonly dir: string) {}
  get disk(): string {
    return join(this.dir, 'disk.qcow2')
  }
  get consoleLog(): string {
    return join(this.dir, 'console.log')
  }
  get pidfile(): string {
    return join(this.dir, 'qemu.pid')
  }
  get qmpSocket(): string {
    return join(this.dir, 'qmp.sock')
  }
  get definition(): string {
    return join(this.dir, 'guest.json')
  }
}

/** Commas inside an option's value are doubled (qemu's QemuOpts escaping). */
export function optionValue(value: string): string {
  return value.replaceAll(',', ',,')
}

export function guestArgs(spec: GuestSpec, disk: PreparedDisk, paths: GuestPaths, settings: Pick<QemuSettings, 'accel' | 'machine'>): string[] {
  const args = [
    '-name', `guest=ec-${spec.id}`,
    '-uuid', spec.id,
    '-machine', settings.machine,
    '-accel', settings.accel,
    '-m', String(spec.memoryMb),
    '-smp', String(spec.vcpus),
    '-nodefaults', '-no-user-config', '-display', 'none',
    // qemu forks once the guest is set up: a bad option or a taken port fails the start, and the guest outlives the agent.
    '-daemonize', '-pidfile', paths.pidfile,
    '-qmp', `unix:${optionValue(paths.qmpSocket)},server=on,wait=off`,
    // Everything the guest prints on its serial console, appended across restarts.
    '-chardev', `file,id=console0,path=${optionValue(paths.consoleLog)},append=on`,
    '-serial', 'chardev:console0',
    '-drive', `file=${optionValue(disk.path)},format=${disk.format},if=virtio`,
  ]

  const smbios = Object.entries(spec.smbios ?? {})
  if (smbios.length > 0) {
    for (const [name] of smbios) {
      if (!(SMBIOS_SYSTEM_FIELDS as readonly string[]).includes(name)) {
        throw new QemuBackendError('config', `SMBIOS field "${name}" is not one qemu sets; use one of ${SMBIOS_SYSTEM_FIELDS.join(', ')}`)
      }
    }

    args.push('-smbios', ['type=1', ...smbios.map(([name, value]) => `${name}=${optionValue(value)}`)].join(','))
  }

  // CD-ROMs hang off virtio-scsi: cloud kernels carry its driver but often not an AHCI one.
  const attachments = spec.attachments ?? []
  if (attachments.some((a) => a.type === 'cdrom')) args.push('-device', 'virtio-scsi-pci,id=scsi0')
  attachments.forEach((attachment, index) => {
    if (attachment.type === 'cdrom') {
      args.push('-drive', `file=${optionValue(attachment.path)},format=raw,if=none,id=attachment${index},media=cdrom,readonly=on`)
      args.push('-device', `scsi-cd,bus=scsi0.0,drive=attachment${index}`)
    } else {
      args.push('-drive', `file=${optionValue(attachment.path)},format=raw,if=virtio`)
    }
  })

  // User networking (slirp): the guest is 10.0.2.15 behind qemu's NAT, reached through hostfwd rules.
  const forwards = (spec.forwards ?? []).map(({proto, host, guest}) => `hostfwd=${proto}:${host}-:${guest}`)
  args.push('-netdev', ['user', 'id=net0', ...forwards].join(','))
  args.push('-device', `virtio-net-pci,netdev=net0,mac=${stableMacAddress(spec.id)}`)
  // Cloud images block early boot on entropy without one.
  args.push('-object', 'rng-random,id=rng0,filename=/dev/urandom', '-device', 'virtio-rng-pci,rng=rng0')
  return args
}

/** A MAC address that stays the same for an instance (qemu's 52:54:00 prefix). */
export function stableMacAddress(id: string): string {
  const bytes = createHash('sha256').update(id).digest().subarray(0, 3)
  return ['52', '54', '00', ...[...bytes].map((b) => b.toString(16).padStart(2, '0'))].join(':')
}
