// What this host can do, under os-traits names: CPU features from the CPU's
// flags (/proc/cpuinfo via systeminformation), the architecture, and what
// the hypervisor says it supports; plus the operator's traits from config.
import {readFile, rename, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import si from 'systeminformation'

import type {HypervisorBackend} from '@ec/plugin-api'

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

/** Everything this host reports: CPU, architecture, hypervisor capabilities, config traits. */
export async function discoverHostTraits(hypervisor: HypervisorBackend, configured: string[]): Promise<string[]> {
  const [flags, capabilities] = await Promise.all([si.cpuFlags(), hypervisor.capabilities?.() ?? []])
  const arch = ARCH_TRAITS[process.arch]
  return [...new Set([...cpuTraits(flags), ...(arch ? [arch] : []), ...capabilities, ...configured])].sort()
}

/**
 * The traits the agent reported last time, kept in its state directory: a
 * config trait dropped since then is removed from the provider, while traits
 * someone else set (an operator's, another service's) are left alone.
 */
export class ReportedTraits {
  private readonly file: string

  constructor(hostDir: string) {
    this.file = join(hostDir, 'traits.json')
  }

  async load(): Promise<string[]> {
    try {
      const stored = JSON.parse(await readFile(this.file, 'utf8')) as unknown
      return Array.isArray(stored) ? stored.filter((t): t is string => typeof t === 'string') : []
    } catch {
      return [] // absent or unreadable: only the agent's own namespaces are replaced
    }
  }

  async save(traits: string[]): Promise<void> {
    await writeFile(`${this.file}.tmp`, JSON.stringify([...new Set(traits)].sort(), null, 2) + '\n')
    await rename(`${this.file}.tmp`, this.file)
  }
}
