// Which <domain type> to ask libvirt for. `auto` picks kvm only on bare
// metal: the CPU offers vmx/svm, /dev/kvm exists and the CPU does not carry
// the `hypervisor` flag. That last rule is the cheap, safe stand-in for a boot
// probe: inside a VM (the flag is set) nested KVM may exist yet hang guests,
// and TCG (type qemu) is slow but always works.
import {access, constants, readFile} from 'node:fs/promises'

import type {VirtTypeSetting} from './config.js'
import {LibvirtBackendError} from './errors.js'

export type DomainType = 'kvm' | 'qemu' | 'test'

export interface HostFacts {
  cpuFlags: ReadonlySet<string>
  kvmDevice: boolean
}

export interface DomainTypeChoice {
  type: DomainType
  /** One line for the log: why this type. */
  why: string
}

export function isTestUri(uri: string): boolean {
  return uri.startsWith('test:')
}

/** Host facts describe this machine, so they only count for URIs without a host part. */
export function isLocalUri(uri: string): boolean {
  const match = /^[a-z][a-z0-9]*(\+[a-z]+)?:\/\/([^/]*)/i.exec(uri)
  return match !== null && match[2] === ''
}

export function chooseDomainType(setting: VirtTypeSetting, uri: string, facts: HostFacts): DomainTypeChoice {
  if (isTestUri(uri)) return {type: 'test', why: `${uri} is libvirt's test driver`}
  if (setting === 'qemu') return {type: 'qemu', why: 'libvirt.virtType is qemu'}
  if (setting === 'kvm') {
    if (isLocalUri(uri) && !facts.kvmDevice) {
      throw new LibvirtBackendError('config', 'libvirt.virtType is kvm but /dev/kvm does not exist; set it to auto or qemu')
    }

    return {type: 'kvm', why: 'libvirt.virtType is kvm'}
  }

  if (!isLocalUri(uri)) return {type: 'qemu', why: `${uri} is remote and ec cannot see its CPU; set libvirt.virtType to kvm to use KVM`}
  if (!facts.cpuFlags.has('vmx') && !facts.cpuFlags.has('svm')) return {type: 'qemu', why: 'the CPU offers no vmx/svm'}
  if (!facts.kvmDevice) return {type: 'qemu', why: '/dev/kvm does not exist'}
  if (facts.cpuFlags.has('hypervisor')) {
    return {type: 'qemu', why: 'this host is itself a VM (cpu flag "hypervisor") and nested KVM may hang; set libvirt.virtType to kvm to use it anyway'}
  }

  return {type: 'kvm', why: 'the CPU offers hardware virtualisation and /dev/kvm exists'}
}

export function parseCpuFlags(cpuinfo: string): Set<string> {
  const flags = new Set<string>()
  for (const line of cpuinfo.split('\n')) {
    const match = /^flags\s*:\s*(.*)$/.exec(line)
    if (match) for (const flag of match[1].split(/\s+/)) if (flag) flags.add(flag)
  }

  return flags
}

export async function readHostFacts(): Promise<HostFacts> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '')
  const kvmDevice = await access('/dev/kvm', constants.F_OK).then(
    () => true,
    () => false,
  )
  return {cpuFlags: parseCpuFlags(cpuinfo), kvmDevice}
}
