import {expect} from 'chai'

import {chooseDomainType, isLocalUri, parseCpuFlags, type HostFacts} from '../src/virt-type.js'

const bareMetal: HostFacts = {cpuFlags: new Set(['fpu', 'vmx', 'sse2']), kvmDevice: true}
const nested: HostFacts = {cpuFlags: new Set(['fpu', 'vmx', 'hypervisor']), kvmDevice: true}
const noVirtualisation: HostFacts = {cpuFlags: new Set(['fpu', 'hypervisor']), kvmDevice: false}

describe('virt type choice', () => {
  it('picks kvm on bare metal with vmx or svm and /dev/kvm', () => {
    expect(chooseDomainType('auto', 'qemu:///system', bareMetal).type).to.equal('kvm')
    expect(chooseDomainType('auto', 'qemu:///system', {cpuFlags: new Set(['svm']), kvmDevice: true}).type).to.equal('kvm')
  })

  it('picks qemu (TCG) inside a VM even when nested KVM is offered', () => {
    const choice = chooseDomainType('auto', 'qemu:///system', nested)
    expect(choice.type).to.equal('qemu')
    expect(choice.why).to.match(/hypervisor/)
  })

  it('picks qemu without vmx/svm or without /dev/kvm', () => {
    expect(chooseDomainType('auto', 'qemu:///system', noVirtualisation).type).to.equal('qemu')
    expect(chooseDomainType('auto', 'qemu:///system', {...bareMetal, kvmDevice: false}).type).to.equal('qemu')
  })

  it('picks qemu for a remote URI, whose CPU it cannot see', () => {
    expect(chooseDomainType('auto', 'qemu+ssh://root@host2/system', bareMetal).type).to.equal('qemu')
  })

  it('uses the test type for the test driver, whatever the setting', () => {
    expect(chooseDomainType('kvm', 'test:///default', noVirtualisation).type).to.equal('test')
    expect(chooseDomainType('auto', 'test:///default', bareMetal).type).to.equal('test')
  })

  it('follows an explicit setting, but refuses kvm without /dev/kvm', () => {
    expect(chooseDomainType('qemu', 'qemu:///system', bareMetal).type).to.equal('qemu')
    expect(chooseDomainType('kvm', 'qemu:///system', nested).type).to.equal('kvm')
    expect(() => chooseDomainType('kvm', 'qemu:///system', noVirtualisation)).to.throw(/\/dev\/kvm/).with.property('reason', 'config')
  })

  it('reads CPU flags from /proc/cpuinfo text', () => {
    const flags = parseCpuFlags('processor\t: 0\nflags\t\t: fpu vme vmx hypervisor\nbugs\t\t: spectre\nflags\t\t: fpu svm\n')
    expect([...flags].sort()).to.deep.equal(['fpu', 'hypervisor', 'svm', 'vme', 'vmx'])
  })

  it('tells local URIs from remote ones', () => {
    expect(isLocalUri('qemu:///system')).to.equal(true)
    expect(isLocalUri('qemu+unix:///system?socket=/tmp/s')).to.equal(true)
    expect(isLocalUri('qemu+ssh://host/system')).to.equal(false)
    expect(isLocalUri('qemu+tcp://10.0.0.2/system')).to.equal(false)
  })
})
