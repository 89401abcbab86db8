// The libvirt domain XML for a guest: a pure function of what the guest is
// and how this host runs guests, so it can be tested without libvirt.
import {createHash} from 'node:crypto'

import type {GuestSpec, PreparedDisk} from '@ec/plugin-api'
import {create} from 'xmlbuilder2'

import type {NetworkSettings} from './config.js'
import {LibvirtBackendError} from './errors.js'
import {domainName} from './naming.js'
import type {DomainType} from './virt-type.js'

/** Namespace of ec's element under <metadata>; libvirt keeps one element per namespace. */
export const EC_METADATA_NAMESPACE = 'http://ec.invalid/xmlns/libvirt/instance/1'

/** libvirt's namespace for qemu command-line additions (<qemu:commandline>). */
export const QEMU_NAMESPACE = 'http://libvirt.org/schemas/domain/qemu/1.0'

/** The PCI slot of the NIC ec adds on qemu's command line. */
const FORWARDING_NIC_PCI_SLOT = '0x1e'

/** The fields libvirt accepts under <sysinfo type='smbios'><system>. */
export const SMBIOS_SYSTEM_FIELDS = ['manufacturer', 'product', 'version', 'serial', 'uuid', 'sku', 'family'] as const

type XMLBuilder = ReturnType<typeof create>

export interface DomainXmlInput {
  spec: GuestSpec
  disk: PreparedDisk
  domainType: DomainType
  network: NetworkSettings
  /** Where libvirt (virtlogd) writes everything the guest prints on its serial console. */
  consoleLogPath: string
  /** The agent's instances directory: several agents may share one libvirtd, and each owns only its own domains. */
  owner?: string
}

export function buildDomainXml({spec, disk, domainType, network, consoleLogPath, owner}: DomainXmlInput): string {
  const domain = create({version: '1.0'}).ele('domain', {type: domainType})
  domain.ele('name').txt(domainName(spec.id))
  domain.ele('uuid').txt(spec.id)
  // libvirt refuses a title with a line break.
  domain.ele('title').txt(spec.name.replaceAll(/[\r\n]+/g, ' '))
  domain.ele('metadata').ele(EC_METADATA_NAMESPACE, 'ec:instance', {id: spec.id, ...(owner ? {owner} : {})})
  domain.ele('memory', {unit: 'MiB'}).txt(String(spec.memoryMb))
  const cells = spec.numa ?? []
  // Pinned: vCPUs run only on the allocated nodes' CPUs and memory comes only from those nodes.
  domain.ele('vcpu', cells.length > 0 ? {placement: 'static', cpuset: cpuList(cells.flatMap((c) => c.hostCpus))} : {}).txt(String(spec.vcpus))
  if (cells.length > 0) {
    const numatune = domain.ele('numatune')
    numatune.ele('memory', {mode: 'strict', nodeset: cells.map((c) => c.hostNode).join(',')})
    if (cells.length > 1) cells.forEach((cell, id) => numatune.ele('memnode', {cellid: String(id), mode: 'strict', nodeset: String(cell.hostNode)}))
  }

  const smbios = Object.entries(spec.smbios ?? {})
  if (smbios.length > 0) {
    const system = domain.ele('sysinfo', {type: 'smbios'}).ele('system')
    for (const [name, value] of smbios) {
      if (!(SMBIOS_SYSTEM_FIELDS as readonly string[]).includes(name)) {
        throw new LibvirtBackendError('config', `SMBIOS field "${name}" is not one libvirt sets; use one of ${SMBIOS_SYSTEM_FIELDS.join(', ')}`)
      }

      system.ele('entry', {name}).txt(value)
    }
  }

  const os = domain.ele('os')
  os.ele('type').txt('hvm')
  os.ele('boot', {dev: 'hd'})
  if (smbios.length > 0) os.ele('smbios', {mode: 'sysinfo'})

  const features = domain.ele('features')
  features.ele('acpi') // without ACPI a guest ignores a graceful shutdown
  features.ele('apic')
  if (domainType === 'kvm' || cells.length > 1) {
    const cpu = domain.ele('cpu', domainType === 'kvm' ? {mode: 'host-passthrough'} : {})
    // Split across nodes: the guest sees one NUMA cell per host node, each with its share.
    if (cells.length > 1) {
      const numa = cpu.ele('numa')
      let first = 0
      cells.forEach((cell, id) => {
        numa.ele('cell', {id: String(id), cpus: cpuList(range(first, cell.vcpus)), memory: String(cell.memoryMb), unit: 'MiB'})
        first += cell.vcpus
      })
    }
  }
  domain.ele('clock', {offset: 'utc'})
  domain.ele('on_poweroff').txt('destroy')
  domain.ele('on_reboot').txt('restart')
  domain.ele('on_crash').txt('destroy')

  const devices = domain.ele('devices')
  addDisk(devices, {device: 'disk', format: disk.format, path: disk.path, dev: 'vda', bus: 'virtio'})
  let virtioDisks = 1
  let cdroms = 0
  // CD-ROMs hang off virtio-scsi: cloud kernels carry its driver but often not
  // a SATA (AHCI) one, and a guest that cannot see its config drive has no data.
  if ((spec.attachments ?? []).some((a) => a.type === 'cdrom')) devices.ele('controller', {type: 'scsi', index: '0', model: 'virtio-scsi'})
  for (const attachment of spec.attachments ?? []) {
    // Attachments are config drives and seed images: raw, and a cdrom is read-only.
    if (attachment.type === 'cdrom') {
      addDisk(devices, {device: 'cdrom', format: 'raw', path: attachment.path, dev: 'sd' + driveLetters(cdroms++), bus: 'scsi', readonly: true})
    } else {
      addDisk(devices, {device: 'disk', format: 'raw', path: attachment.path, dev: 'vd' + driveLetters(virtioDisks++), bus: 'virtio'})
    }
  }

  const forwarded = network.mode === 'user' && (spec.forwards ?? []).length > 0
  if (forwarded) addForwardingUserNetwork(domain, spec)
  else addInterface(devices, network, spec.id)

  const serial = devices.ele('serial', {type: 'pty'})
  // virtlogd writes the log (and rotates it), so it fills even when nobody is attached.
  serial.ele('log', {file: consoleLogPath, append: 'on'})
  serial.ele('target', {port: '0'})
  devices.ele('console', {type: 'pty'}).ele('target', {type: 'serial', port: '0'})
  // Cloud images block early boot on entropy without one.
  devices.ele('rng', {model: 'virtio'}).ele('backend', {model: 'random'}).txt('/dev/urandom')

  return domain.end({prettyPrint: true, headless: true})
}

/**
 * User networking with host port forwards. libvirt 9.0's <interface
 * type='user'> cannot forward ports (its <portForward> needs the passt
 * backend, which 9.0 rejects), so the NIC is qemu's own slirp netdev with
 * hostfwd rules, given on qemu's command line. Being part of the definition,
 * the forwards exist whenever qemu runs — from every start, whoever starts
 * it — and go with it; nothing has to re-add them after a restart. libvirt
 * marks such domains tainted (custom-argv) in its log; that is all.
 */
function addForwardingUserNetwork(domain: XMLBuilder, spec: GuestSpec): void {
  const rules = (spec.forwards ?? []).map(({proto, host, guest}) => `hostfwd=${proto}:${host}-:${guest}`)
  const commandline = domain.ele(QEMU_NAMESPACE, 'qemu:commandline')
  // qemu would put the NIC in the first free PCI slot before libvirt's own
  // devices take theirs (from slot 2 up); the last slots are never libvirt's.
  const nic = `virtio-net-pci,netdev=ecnet0,mac=${stableMacAddress(spec.id)},addr=${FORWARDING_NIC_PCI_SLOT}`
  for (const value of ['-netdev', ['user', 'id=ecnet0', ...rules].join(','), '-device', nic]) {
    commandline.ele(QEMU_NAMESPACE, 'qemu:arg', {value})
  }
}

/** The <title> of a domain's XML (ec keeps the instance's name there), or '' without one. */
export function readDomainTitle(xml: string): string {
  const title = create(xml).find((node) => node.node.nodeName === 'title', false, true)
  return title?.node.textContent ?? ''
}

/** The owner recorded in ec's <metadata> element (the instances directory of the agent that defined it), or undefined. */
export function readDomainOwner(xml: string): string | undefined {
  const element = create(xml).find((node) => node.node.nodeName.split(':').pop() === 'instance', false, true)
  const node = element?.node
  if (!node || !('getAttribute' in node) || typeof node.getAttribute !== 'function') return undefined
  const owner: unknown = node.getAttribute('owner')
  return typeof owner === 'string' ? owner : undefined
}

/** A MAC address that stays the same for an instance across redefinitions (libvirt's 52:54:00 prefix). */
export function stableMacAddress(id: string): string {
  const bytes = createHash('sha256').update(id).digest().subarray(0, 3)
  return ['52', '54', '00', ...[...bytes].map((b) => b.toString(16).padStart(2, '0'))].join(':')
}

/** [0,1,2,3,8] → "0-3,8" (libvirt's cpuset syntax). */
export function cpuList(cpus: number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b)
  const ranges: string[] = []
  for (let i = 0; i < sorted.length; ) {
    let j = i
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++
    ranges.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`)
    i = j + 1
  }

  return ranges.join(',')
}

function range(first: number, count: number): number[] {
  return Array.from({length: count}, (_, i) => first + i)
}

/** Disk name suffixes as libvirt counts them: a…z, aa…az, … */
export function driveLetters(index: number): string {
  let letters = ''
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) letters = String.fromCodePoint(97 + ((n - 1) % 26)) + letters
  return letters
}

interface DiskDevice {
  device: 'disk' | 'cdrom'
  format: string
  path: string
  dev: string
  bus: 'virtio' | 'scsi'
  readonly?: boolean
}

function addDisk(devices: XMLBuilder, disk: DiskDevice): void {
  const element = devices.ele('disk', {type: 'file', device: disk.device})
  element.ele('driver', {name: 'qemu', type: disk.format})
  element.ele('source', {file: disk.path})
  element.ele('target', {dev: disk.dev, bus: disk.bus})
  if (disk.readonly) element.ele('readonly')
}

function addInterface(devices: XMLBuilder, network: NetworkSettings, id: string): void {
  const nic = devices.ele('interface', {type: network.mode})
  nic.ele('mac', {address: stableMacAddress(id)})
  if (network.mode === 'network') nic.ele('source', {network: network.name})
  if (network.mode === 'bridge') nic.ele('source', {bridge: network.name})
  nic.ele('model', {type: 'virtio'})
}
