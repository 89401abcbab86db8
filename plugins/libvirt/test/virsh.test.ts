import {expect} from 'chai'

import {ToolFailedError} from '@ec/plugin-api/tools'
import {libvirtVersion, parseInterfaceAddresses, parseVersion, undefineWithState} from '../src/virsh.js'

describe('virsh', () => {
  it("reads the daemon's and the hypervisor's version", () => {
    const output = [
      'Compiled against library: libvirt 9.0.0',
      'Using library: libvirt 9.0.0',
      'Using API: QEMU 9.0.0',
      'Running hypervisor: QEMU 7.2.22',
      'Running against daemon: 9.1.0',
    ].join('\n')
    expect(parseVersion(output)).to.equal('libvirt 9.1.0, QEMU 7.2.22')
    expect(parseVersion('Using library: libvirt 9.0.0\n')).to.equal('libvirt 9.0.0')
  })

  it('reads leased addresses without their prefix length', () => {
    const output = [
      ' vnet0      52:54:00:aa:bb:cc    ipv4         192.168.122.45/24',
      ' -          -                    ipv6         fd00::1234/64',
      '',
    ].join('\n')
    expect(parseInterfaceAddresses(output)).to.deep.equal(['192.168.122.45', 'fd00::1234'])
    expect(parseInterfaceAddresses('')).to.deep.equal([])
  })

  it('asks libvirt for its version', async () => {
    expect(await libvirtVersion('test:///default')).to.match(/^libvirt \d+\.\d+\.\d+, TEST /)
  })

  it('fails with the tool error when the domain does not exist', async () => {
    try {
      await undefineWithState('test:///default', 'ec-00000000-0000-0000-0000-000000000000')
      expect.fail('undefine of a missing domain succeeded')
    } catch (error) {
      expect(error).to.be.instanceOf(ToolFailedError)
      expect((error as Error).message).to.match(/^virsh failed \(exit 1\)/)
    }
  })
})
