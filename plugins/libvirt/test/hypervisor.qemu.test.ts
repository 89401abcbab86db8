// Against the host's real libvirtd (qemu:///system): images, disks and a
// domain definition. Nothing is started — booting guests comes later.
import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {chmod, mkdir} from 'node:fs/promises'
import {join} from 'node:path'

import {LibvirtHypervisor} from '../src/hypervisor.js'
import {readHostFacts} from '../src/virt-type.js'
import {guestSpec, makeQcow2, only, parseXml, qemuImgInfo, rejection, scratchDir} from './helpers.js'

const URI = 'qemu:///system'

function virsh(...args: string[]): string {
  return execFileSync('virsh', ['--quiet', '--connect', URI, ...args], {encoding: 'utf8'})
}

describe('libvirt backend on qemu:///system', () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>>
  let backend: LibvirtHypervisor

  beforeEach(async () => {
    scratch = await scratchDir()
    await chmod(scratch.path, 0o755) // qemu runs as libvirt-qemu: it must be able to enter
    backend = await LibvirtHypervisor.create(
      {uri: URI, instancesDir: join(scratch.path, 'instances'), imageCacheDir: join(scratch.path, 'images')},
      scratch.path,
    )
  })
  afterEach(async () => {
    await backend.close()
    await scratch.remove()
  })

  it('picks TCG inside a VM', async function () {
    if (!(await readHostFacts()).cpuFlags.has('hypervisor')) this.skip()
    expect(backend.domainType).to.equal('qemu')
  })

  it('defines a guest on an overlay disk and undefines it with its files', async () => {
    const basePath = join(scratch.path, 'base.qcow2')
    makeQcow2(basePath, '64M')
    const seedPath = join(scratch.path, 'seed.iso')
    makeQcow2(seedPath, '1M') // define copies it; only its path in the domain matters
    const spec = guestSpec({
      name: 'overlay guest',
      diskGb: 1,
      image: {ref: 'base', path: basePath},
      smbios: {serial: 'ds=nocloud'},
      attachments: [{type: 'cdrom', path: seedPath}],
    })
    try {
      const image = await backend.ensureImage(spec.image, () => {})
      const disk = await backend.prepareDisk(spec, image, () => {})
      expect(qemuImgInfo(disk.path)['backing-filename']).to.equal(basePath)

      await backend.define(spec, disk)
      expect(await backend.list()).to.deep.include({id: spec.id, name: 'overlay guest', state: 'shutoff', defined: true})
      const domain = parseXml(virsh('dumpxml', `ec-${spec.id}`))
      expect(domain.getAttribute('type')).to.equal('qemu')
      const files = [...domain.getElementsByTagName('disk')].map((d) => only(d, 'source').getAttribute('file'))
      // Attachments are copied into the instance's directory, where qemu can reach them.
      expect(files).to.deep.equal([disk.path, join(scratch.path, 'instances', spec.id, 'attachment-0-seed.iso')])
      expect(only(only(domain, 'serial'), 'log').getAttribute('file')).to.equal(join(scratch.path, 'instances', spec.id, 'console.log'))
      expect(only(only(domain, 'system'), 'entry').textContent).to.equal('ds=nocloud')

      await backend.destroy(spec.id)
      expect((await backend.list()).map((guest) => guest.id)).to.not.include(spec.id)
      expect(existsSync(join(scratch.path, 'instances', spec.id))).to.equal(false)
      expect(existsSync(basePath), 'the image stays').to.equal(true)
    } finally {
      await backend.destroy(spec.id)
    }
  })

  it('refuses, at start, directories qemu cannot reach, saying which and what to do', async () => {
    const hidden = join(scratch.path, 'private')
    await mkdir(hidden, {mode: 0o700})
    const error = await rejection(LibvirtHypervisor.create({uri: URI, instancesDir: join(hidden, 'instances')}, scratch.path))
    expect(error).to.include({reason: 'environment'})
    expect(error.message).to.equal(
      `qemu (run by the system libvirtd as its own user) cannot reach ${join(hidden, 'instances')}: ${hidden} is not searchable by others (mode 700); move libvirt.instancesDir elsewhere (e.g. under /var/lib/ec) or chmod o+x ${hidden}`,
    )
  })

  it('refuses a local image qemu could not read as a backing file', async () => {
    const hidden = join(scratch.path, 'private-images')
    await mkdir(hidden, {mode: 0o700})
    const path = join(hidden, 'base.qcow2')
    makeQcow2(path, '16M')
    const error = await rejection(backend.ensureImage({ref: 'hidden', path}, () => {}))
    expect(error).to.include({reason: 'environment'})
    expect(error.message).to.match(new RegExp(`cannot reach ${path}: ${hidden} is not searchable by others .*move the image hidden elsewhere`))
  })

  it('gives notFound for a missing image path', async () => {
    const error = await rejection(backend.ensureImage({ref: 'gone', path: join(scratch.path, 'gone.qcow2')}, () => {}))
    expect(error.reason).to.equal('notFound')
  })

  it('reports health with the daemon version', async () => {
    const health = await backend.health()
    expect(health).to.include({ok: true, endpoint: URI})
    expect(health.version).to.match(/^libvirt \d+\.\d+\.\d+, QEMU \d+/)
  })
})
