import {expect} from 'chai'

import type {NetworkSettings} from '../src/config.js'
import {buildDomainXml, driveLetters, EC_METADATA_NAMESPACE, QEMU_NAMESPACE, readDomainOwner, readDomainTitle, stableMacAddress} from '../src/domain-xml.js'
import {forwardsInDomainXml} from '../src/ports.js'
import type {DomainType} from '../src/virt-type.js'
import {guestSpec, only, parseXml} from './helpers.js'

const disk = {path: '/var/lib/ec/instances/x/disk.qcow2', format: 'qcow2', sizeGb: 10}

function build(overrides: {spec?: Parameters<typeof guestSpec>[0]; network?: NetworkSettings; domainType?: DomainType} = {}) {
  const spec = guestSpec(overrides.spec)
  const xml = buildDomainXml({
    spec,
    disk,
    domainType: overrides.domainType ?? 'qemu',
    network: overrides.network ?? {mode: 'user'},
    consoleLogPath: `/var/lib/ec/instances/${spec.id}/console.log`,
  })
  return {spec, xml, domain: parseXml(xml)}
}

describe('domain XML', () => {
  it('names the domain ec-<id>, uses the id as UUID and the instance name as title', () => {
    const {spec, domain, xml} = build({spec: {name: 'web <1> & "two"'}})
    expect(domain.tagName).to.equal('domain')
    expect(domain.getAttribute('type')).to.equal('qemu')
    expect(only(domain, 'name').textContent).to.equal(`ec-${spec.id}`)
    expect(only(domain, 'uuid').textContent).to.equal(spec.id)
    expect(only(domain, 'title').textContent).to.equal('web <1> & "two"')
    expect(readDomainTitle(xml)).to.equal('web <1> & "two"')
  })

  it('keeps line breaks out of the title', () => {
    expect(only(build({spec: {name: 'a\nb'}}).domain, 'title').textContent).to.equal('a b')
  })

  it("records the instance id in ec's metadata namespace", () => {
    const {spec, domain} = build()
    const [instance] = [...domain.getElementsByTagNameNS(EC_METADATA_NAMESPACE, 'instance')]
    expect(instance, 'ec:instance').to.exist
    expect(instance.getAttribute('id')).to.equal(spec.id)
    expect(instance.parentElement?.tagName).to.equal('metadata')
  })

  it('records the owning instances directory, and reads it back from XML as libvirt returns it', () => {
    const spec = guestSpec()
    const xml = buildDomainXml({spec, disk, domainType: 'qemu', network: {mode: 'user'}, consoleLogPath: '/c.log', owner: '/var/lib/ec/a & b/instances'})
    expect(readDomainOwner(xml)).to.equal('/var/lib/ec/a & b/instances')
    const fromLibvirt = `<domain type='qemu'><name>ec-${spec.id}</name><metadata><ec:instance xmlns:ec="${EC_METADATA_NAMESPACE}" id="${spec.id}" owner="/srv/x"/></metadata></domain>`
    expect(readDomainOwner(fromLibvirt)).to.equal('/srv/x')
    expect(readDomainOwner(build().xml), 'a domain defined before owners were recorded').to.equal(undefined)
  })

  it('sets vCPUs and memory in MiB', () => {
    const {domain} = build({spec: {vcpus: 3, memoryMb: 1536}})
    expect(only(domain, 'vcpu').textContent).to.equal('3')
    expect(only(domain, 'memory').getAttribute('unit')).to.equal('MiB')
    expect(only(domain, 'memory').textContent).to.equal('1536')
  })

  it('attaches the prepared disk as virtio with its format, and attachments after it', () => {
    const {domain} = build({
      spec: {
        attachments: [
          {type: 'cdrom', path: '/tmp/seed.iso'},
          {type: 'disk', path: '/tmp/data.img'},
          {type: 'cdrom', path: '/tmp/other.iso'},
        ],
      },
    })
    const disks = [...domain.getElementsByTagName('disk')].map((d) => ({
      device: d.getAttribute('device'),
      format: only(d, 'driver').getAttribute('type'),
      file: only(d, 'source').getAttribute('file'),
      dev: only(d, 'target').getAttribute('dev'),
      bus: only(d, 'target').getAttribute('bus'),
      readonly: d.getElementsByTagName('readonly').length === 1,
    }))
    expect(disks).to.deep.equal([
      {device: 'disk', format: 'qcow2', file: disk.path, dev: 'vda', bus: 'virtio', readonly: false},
      {device: 'cdrom', format: 'raw', file: '/tmp/seed.iso', dev: 'sda', bus: 'scsi', readonly: true},
      {device: 'disk', format: 'raw', file: '/tmp/data.img', dev: 'vdb', bus: 'virtio', readonly: false},
      {device: 'cdrom', format: 'raw', file: '/tmp/other.iso', dev: 'sdb', bus: 'scsi', readonly: true},
    ])
    // On virtio-scsi, which cloud kernels can drive (many have no AHCI driver for SATA).
    const controllers = [...domain.getElementsByTagName('controller')].map((c) => [c.getAttribute('type'), c.getAttribute('model')])
    expect(controllers).to.deep.equal([['scsi', 'virtio-scsi']])
  })

  it('logs the serial console to the per-instance file and puts a console on it', () => {
    const {spec, domain} = build()
    const serial = only(domain, 'serial')
    expect(serial.getAttribute('type')).to.equal('pty')
    expect(only(serial, 'log').getAttribute('file')).to.equal(`/var/lib/ec/instances/${spec.id}/console.log`)
    const consoleTarget = only(only(domain, 'console'), 'target')
    expect(consoleTarget.getAttribute('type')).to.equal('serial')
    expect(consoleTarget.getAttribute('port')).to.equal('0')
  })

  it('writes SMBIOS system entries and tells the firmware to use them', () => {
    const {domain} = build({spec: {smbios: {serial: 'ds=nocloud-net;s=http://10.0.0.1:8000/', manufacturer: 'ec'}}})
    const sysinfo = only(domain, 'sysinfo')
    expect(sysinfo.getAttribute('type')).to.equal('smbios')
    const entries = [...only(sysinfo, 'system').getElementsByTagName('entry')].map((e) => [e.getAttribute('name'), e.textContent])
    expect(entries).to.deep.equal([
      ['serial', 'ds=nocloud-net;s=http://10.0.0.1:8000/'],
      ['manufacturer', 'ec'],
    ])
    expect(only(only(domain, 'os'), 'smbios').getAttribute('mode')).to.equal('sysinfo')
  })

  it('leaves SMBIOS out when there are no entries', () => {
    const {domain} = build()
    expect(domain.getElementsByTagName('sysinfo')).to.have.length(0)
    expect(only(domain, 'os').getElementsByTagName('smbios')).to.have.length(0)
  })

  it('refuses an SMBIOS field libvirt does not set', () => {
    expect(() => build({spec: {smbios: {colour: 'blue'}}})).to.throw(/SMBIOS field "colour"/).with.property('reason', 'config')
  })

  it('uses user networking with a virtio NIC by default, with a MAC stable per instance', () => {
    const {spec, domain} = build()
    const nic = only(domain, 'interface')
    expect(nic.getAttribute('type')).to.equal('user')
    expect(only(nic, 'model').getAttribute('type')).to.equal('virtio')
    expect(nic.getElementsByTagName('source')).to.have.length(0)
    expect(only(nic, 'mac').getAttribute('address')).to.equal(stableMacAddress(spec.id)).and.match(/^52:54:00(:[0-9a-f]{2}){3}$/)
  })

  it("forwards host ports under user networking with qemu's own NIC, readable back from the XML", () => {
    const forwards = [
      {guest: 22, host: '127.0.0.1:40022', proto: 'tcp' as const},
      {guest: 53, host: '127.0.0.1:40053', proto: 'udp' as const},
    ]
    const {spec, domain, xml} = build({spec: {forwards}})
    expect(domain.getElementsByTagName('interface')).to.have.length(0)
    const args = [...domain.getElementsByTagNameNS(QEMU_NAMESPACE, 'arg')].map((a) => a.getAttribute('value'))
    expect(args).to.deep.equal([
      '-netdev',
      'user,id=ecnet0,hostfwd=tcp:127.0.0.1:40022-:22,hostfwd=udp:127.0.0.1:40053-:53',
      '-device',
      `virtio-net-pci,netdev=ecnet0,mac=${stableMacAddress(spec.id)},addr=0x1e`,
    ])
    expect(forwardsInDomainXml(xml)).to.deep.equal(forwards)
    // where the guest's address is reachable there is nothing to forward
    const bridged = build({spec: {forwards}, network: {mode: 'bridge', name: 'br0'}})
    expect(bridged.domain.getElementsByTagNameNS(QEMU_NAMESPACE, 'arg')).to.have.length(0)
    expect(bridged.domain.getElementsByTagName('interface')).to.have.length(1)
  })

  it('connects to a libvirt network or a bridge by name', () => {
    const network = only(build({network: {mode: 'network', name: 'default'}}).domain, 'interface')
    expect(network.getAttribute('type')).to.equal('network')
    expect(only(network, 'source').getAttribute('network')).to.equal('default')
    const bridge = only(build({network: {mode: 'bridge', name: 'br0'}}).domain, 'interface')
    expect(bridge.getAttribute('type')).to.equal('bridge')
    expect(only(bridge, 'source').getAttribute('bridge')).to.equal('br0')
  })

  it('passes the host CPU through only under KVM', () => {
    expect(only(build({domainType: 'kvm'}).domain, 'cpu').getAttribute('mode')).to.equal('host-passthrough')
    expect(build({domainType: 'qemu'}).domain.getElementsByTagName('cpu')).to.have.length(0)
    expect(build({domainType: 'test'}).domain.getAttribute('type')).to.equal('test')
  })

  it('counts drive letters as libvirt does', () => {
    expect([0, 1, 25, 26, 27, 51, 52].map((i) => driveLetters(i))).to.deep.equal(['a', 'b', 'z', 'aa', 'ab', 'az', 'ba'])
  })

  it('pins a guest to its NUMA node: vCPUs on that node\'s CPUs, memory strictly from it, no guest cells', () => {
    const {domain} = build({spec: {vcpus: 2, memoryMb: 1024, numa: [{hostNode: 1, hostCpus: [4, 5, 6, 7], vcpus: 2, memoryMb: 1024}]}})
    expect(only(domain, 'vcpu').getAttribute('cpuset')).to.equal('4-7')
    expect(only(domain, 'numatune').getElementsByTagName('memory')[0].getAttribute('nodeset')).to.equal('1')
    expect(domain.getElementsByTagName('cell').length).to.equal(0)
  })

  it('splits a guest over two nodes as two guest cells, each bound to its host node', () => {
    const numa = [
      {hostNode: 0, hostCpus: [0, 1], vcpus: 2, memoryMb: 512},
      {hostNode: 1, hostCpus: [2, 3], vcpus: 1, memoryMb: 512},
    ]
    const {domain} = build({spec: {vcpus: 3, memoryMb: 1024, numa}})
    expect(only(domain, 'vcpu').getAttribute('cpuset')).to.equal('0-3')
    const memnodes = [...only(domain, 'numatune').getElementsByTagName('memnode')].map((m) => [m.getAttribute('cellid'), m.getAttribute('nodeset')])
    expect(memnodes).to.deep.equal([['0', '0'], ['1', '1']])
    const cells = [...domain.getElementsByTagName('cell')].map((c) => [c.getAttribute('id'), c.getAttribute('cpus'), c.getAttribute('memory')])
    expect(cells).to.deep.equal([['0', '0-1', '512'], ['1', '2', '512']])
  })
})
