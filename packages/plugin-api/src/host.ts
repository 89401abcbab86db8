// Measuring a Linux host, for HypervisorBackend.describeHost(): what every
// hypervisor on such a host would otherwise measure the same way — logical
// CPUs, memory, the disk of the filesystem guests' disks live on, NUMA nodes
// from sysfs, and the CPU and architecture traits (os-traits names).
import {readdir, readFile, mkdir, statfs} from 'node:fs/promises'
import {availableParallelism, totalmem} from 'node:os'
import {join} from 'node:path'

import {EcError} from './errors.js'
import type {DiskStrategy, HostCapacity, NumaNodeCapacity} from './hypervisor.js'

/** Logical CPUs, memory, and the size of the filesystem holding `disksDir` (created if absent); NUMA nodes from sysfs. */
export async function hostCapacity(disksDir: string, options: {sysNodeDir?: string} = {}): Promise<HostCapacity> {
  await mkdir(disksDir, {recursive: true})
  const [fs, numaNodes] = await Promise.all([statfs(disksDir), measureNumaNodes(options.sysNodeDir)])
  return {
    vcpus: availableParallelism(),
    memoryMb: Math.floor(totalmem() / 2 ** 20),
    diskGb: Math.floor((fs.blocks * fs.bsize) / 2 ** 30),
    numaNodes: numaNodes.length > 1 ? numaNodes : [],
  }
}

/** "0-3,8,10-11" → [0,1,2,3,8,10,11] (Linux's cpulist format). */
export function parseCpuList(list: string): number[] {
  const cpus: number[] = []
  for (const part of list.trim().split(',').filter(Boolean)) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim())
    if (!match) throw new EcError('config', `"${list}" is not a CPU list like 0-3,8`)
    const [from, to] = [Number(match[1]), Number(match[2] ?? match[1])]
    for (let cpu = from; cpu <= to; cpu++) cpus.push(cpu)
  }

  return cpus
}

/** The machine's nodes from /sys/devices/system/node (empty where there is no such directory). */
export async function measureNumaNodes(sysNodeDir = '/sys/devices/system/node'): Promise<NumaNodeCapacity[]> {
  let entries: string[]
  try {
    entries = (await readdir(sysNodeDir)).filter((name) => /^node\d+$/.test(name))
  } catch {
    return []
  }

  const nodes = await Promise.all(
    entries.map(async (entry) => {
      const dir = join(sysNodeDir, entry)
      const [cpulist, meminfo] = await Promise.all([readFile(join(dir, 'cpulist'), 'utf8'), readFile(join(dir, 'meminfo'), 'utf8')])
      const kb = Number(/MemTotal:\s+(\d+)\s+kB/.exec(meminfo)?.[1] ?? 0)
      return {node: Number(entry.slice(4)), cpus: parseCpuList(cpulist), memoryMb: Math.floor(kb / 1024)}
    }),
  )
  return nodes.sort((a, b) => a.node - b.node)
}

/** Linux's /proc/cpuinfo flag → os-traits HW_CPU_X86_* suffix (only names os-traits defines). */
const X86_FLAG_TRAITS: Record<string, string> = {
  mmx: 'MMX',
  sse: 'SSE',
  sse2: 'SSE2',
  pni: 'SSE3',
  ssse3: 'SSSE3',
  sse4_1: 'SSE41',
  sse4_2: 'SSE42',
  sse4a: 'SSE4A',
  avx: 'AVX',
  avx2: 'AVX2',
  fma: 'FMA3',
  fma4: 'FMA4',
  f16c: 'F16C',
  xop: 'XOP',
  '3dnow': '3DNOW',
  avx512f: 'AVX512F',
  avx512cd: 'AVX512CD',
  avx512pf: 'AVX512PF',
  avx512er: 'AVX512ER',
  avx512vl: 'AVX512VL',
  avx512bw: 'AVX512BW',
  avx512dq: 'AVX512DQ',
  avx512_vnni: 'AVX512VNNI',
  avx512vbmi: 'AVX512VBMI',
  avx512ifma: 'AVX512IFMA',
  avx512_vbmi2: 'AVX512VBMI2',
  avx512_bitalg: 'AVX512BITALG',
  avx512_vpopcntdq: 'AVX512VPOPCNTDQ',
  abm: 'ABM',
  bmi1: 'BMI',
  bmi2: 'BMI2',
  tbm: 'TBM',
  aes: 'AESNI',
  pclmulqdq: 'CLMUL',
  sha_ni: 'SHA',
  mpx: 'MPX',
  sgx: 'SGX',
  rtm: 'TSX',
  vmx: 'VMX',
  svm: 'SVM',
  pdpe1gb: 'PDPE1GB',
  stibp: 'STIBP',
}

const ARCH_TRAITS: Partial<Record<NodeJS.Architecture, string>> = {
  x64: 'COMPUTE_ARCH_X86_64',
  arm64: 'COMPUTE_ARCH_AARCH64',
  ppc64: 'COMPUTE_ARCH_PPC64LE',
  s390x: 'COMPUTE_ARCH_S390X',
  riscv64: 'COMPUTE_ARCH_RISCV64',
}

/** HW_CPU_X86_* traits for a CPU's flags (space-separated, as /proc/cpuinfo lists them). */
export function cpuTraits(flags: string): string[] {
  const traits = new Set<string>()
  for (const flag of flags.split(/\s+/)) {
    const suffix = X86_FLAG_TRAITS[flag]
    if (suffix) traits.add(`HW_CPU_X86_${suffix}`)
  }

  return [...traits].sort()
}

/** The host CPU's features (from /proc/cpuinfo's first `flags` line) and its architecture, as os-traits names. */
export async function hostCpuTraits(cpuinfo = '/proc/cpuinfo'): Promise<string[]> {
  const text = await readFile(cpuinfo, 'utf8').catch(() => '')
  const flags = /^flags\s*:(.*)$/m.exec(text)?.[1] ?? ''
  const arch = ARCH_TRAITS[process.arch]
  return [...cpuTraits(flags), ...(arch ? [arch] : [])].sort()
}

/** os-traits has no names for ec's disk strategies: CUSTOM_EC_DISK_OVERLAY|COPY|RESIZE. */
export const DISK_STRATEGY_TRAITS: Readonly<Record<DiskStrategy, string>> = {
  overlay: 'CUSTOM_EC_DISK_OVERLAY',
  copy: 'CUSTOM_EC_DISK_COPY',
  resize: 'CUSTOM_EC_DISK_RESIZE',
}

export function diskStrategyTraits(strategies: readonly DiskStrategy[]): string[] {
  return strategies.map((s) => DISK_STRATEGY_TRAITS[s]).sort()
}
