import {expect} from 'chai'

import {cpuTraits, parseCpuList} from '@ec/plugin-api'

import {coreDefaults} from '../../src/config/defaults.js'
import {hostTraits} from '../../src/agent/host-traits.js'
import {numaInventories, numaTopology} from '../../src/agent/numa.js'

describe('host traits and NUMA topology', () => {
  it('maps /proc/cpuinfo flags to os-traits names and ignores the rest', () => {
    expect(cpuTraits('fpu sse sse2 pni ssse3 sse4_1 sse4_2 aes avx avx2 fma bmi1 sha_ni avx512_vnni hypervisor')).to.deep.equal([
      'HW_CPU_X86_AESNI', 'HW_CPU_X86_AVX', 'HW_CPU_X86_AVX2', 'HW_CPU_X86_AVX512VNNI', 'HW_CPU_X86_BMI', 'HW_CPU_X86_FMA3',
      'HW_CPU_X86_SHA', 'HW_CPU_X86_SSE', 'HW_CPU_X86_SSE2', 'HW_CPU_X86_SSE3', 'HW_CPU_X86_SSE41', 'HW_CPU_X86_SSE42', 'HW_CPU_X86_SSSE3',
    ])
  })

  it("reports the hypervisor's traits and config's, once each, sorted", () => {
    const capabilities = {diskStrategies: [], smbios: false, cdrom: false, portForwarding: false, numaPinning: false}
    const host = {capacity: {vcpus: 1, memoryMb: 1, diskGb: 1, numaNodes: []}, traits: ['HW_CPU_X86_SSE2', 'COMPUTE_ARCH_X86_64'], capabilities}
    expect(hostTraits(host, ['CUSTOM_RACK_A', 'HW_CPU_X86_SSE2'])).to.deep.equal(['COMPUTE_ARCH_X86_64', 'CUSTOM_RACK_A', 'HW_CPU_X86_SSE2'])
  })

  it('reads CPU lists as Linux writes them', () => {
    expect(parseCpuList('0-3,8,10-11\n')).to.deep.equal([0, 1, 2, 3, 8, 10, 11])
    expect(() => parseCpuList('0-')).to.throw(/is not a CPU list/)
  })

  it('takes the topology from config, or the machine only when it has more than one node, and splits the reserve', async () => {
    const compute = {...coreDefaults().compute, reserved: {MEMORY_MB: 512}, allocationRatio: {VCPU: 4}}
    const one = async () => [{node: 0, cpus: [0, 1], memoryMb: 2048}]
    expect(await numaTopology({...compute, numa: 'auto'}, one)).to.deep.equal([])
    expect(await numaTopology({...compute, numa: 'off'}, one)).to.deep.equal([])
    const two = async () => [{node: 0, cpus: [0], memoryMb: 1024}, {node: 1, cpus: [1], memoryMb: 1024}]
    expect(await numaTopology({...compute, numa: 'auto'}, two)).to.deep.equal(await two())
    const nodes = await numaTopology({...compute, numa: {nodes: [{cpus: '0-1', memoryMb: 4096}, {cpus: '2-3', memoryMb: 4096}]}}, two)
    expect(nodes).to.deep.equal([{node: 0, cpus: [0, 1], memoryMb: 4096}, {node: 1, cpus: [2, 3], memoryMb: 4096}])
    expect(numaInventories(nodes, compute)[1]).to.deep.equal({
      node: 1,
      inventory: [
        {resourceClass: 'VCPU', total: 2, reserved: 0, allocationRatio: 4},
        {resourceClass: 'MEMORY_MB', total: 4096, reserved: 256, allocationRatio: 1},
      ],
    })
  })
})
