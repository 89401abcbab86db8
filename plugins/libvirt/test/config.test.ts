import {Ajv} from 'ajv'
import {expect} from 'chai'

import {libvirtSection, resolveSettings} from '../src/config.js'

describe('libvirt config section', () => {
  const validate = new Ajv({allErrors: true}).compile(libvirtSection.schema)
  const cp = {host: '127.0.0.1', etcdClientPort: 2379, placementPort: 8778, etcdEndpoints: ['http://127.0.0.1:2379'], placementUrls: ['http://127.0.0.1:8778']}

  it('has valid defaults and EC_LIBVIRT_URI', () => {
    const defaults = libvirtSection.defaults(cp)
    expect(defaults).to.deep.equal({uri: 'qemu:///system', virtType: 'auto', network: {mode: 'user'}, diskStrategy: 'overlay', resizePartition: '/dev/sda1'})
    expect(validate(defaults)).to.equal(true)
    expect(libvirtSection.env).to.deep.equal({EC_LIBVIRT_URI: {key: 'uri', type: 'string'}})
  })

  it('rejects unknown keys, unknown modes and a bridge without a name', () => {
    expect(validate({uri: 'qemu:///system', extra: 1})).to.equal(false)
    expect(validate({network: {mode: 'nat'}})).to.equal(false)
    expect(validate({network: {mode: 'bridge'}})).to.equal(false)
    expect(validate({network: {mode: 'bridge', name: 'br0'}})).to.equal(true)
    expect(validate({virtType: 'xen'})).to.equal(false)
    expect(validate({diskStrategy: 'clone'})).to.equal(false)
  })

  it('puts instances and images where qemu:///system can reach them, else under the state directory', () => {
    const settings = resolveSettings(libvirtSection.defaults(cp), '/root/.local/state/ec/compute')
    expect(settings).to.deep.equal({
      uri: 'qemu:///system',
      virtType: 'auto',
      network: {mode: 'user'},
      diskStrategy: 'overlay',
      resizePartition: '/dev/sda1',
      forwardAddress: '127.0.0.1',
      instancesDir: '/var/lib/ec/instances',
      imageCacheDir: '/var/lib/ec/images',
    })
    expect(resolveSettings({uri: 'test:///default'}, '/state')).to.include({instancesDir: '/state/instances', imageCacheDir: '/state/images'})
    expect(resolveSettings({uri: 'qemu:///session'}, '/state')).to.include({instancesDir: '/state/instances'})
    expect(resolveSettings({instancesDir: '/srv/vms', imageCacheDir: '/srv/images'}, '/x')).to.include({instancesDir: '/srv/vms', imageCacheDir: '/srv/images'})
  })

  it("names libvirt's default network when none is given", () => {
    expect(resolveSettings({network: {mode: 'network'}}, '/x').network).to.deep.equal({mode: 'network', name: 'default'})
    expect(() => resolveSettings({network: {mode: 'bridge'}}, '/x')).to.throw(/network.name/)
  })
})
