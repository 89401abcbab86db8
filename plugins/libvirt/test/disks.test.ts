// Disk preparation with the real qemu-img, on small blank images.
import {expect} from 'chai'
import {existsSync} from 'node:fs'
import {join} from 'node:path'

import type {ImageInfo, Progress} from '../../../src/plugins/hypervisor.js'
import {GIB, prepareDisk} from '../src/disks.js'
import {InstancePaths} from '../src/naming.js'
import {guestSpec, makeQcow2, qemuImgInfo, rejection, scratchDir} from './helpers.js'

describe('disk preparation', () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>>
  let paths: InstancePaths
  let image: ImageInfo

  beforeEach(async () => {
    scratch = await scratchDir()
    paths = new InstancePaths(join(scratch.path, 'instances'))
    const path = join(scratch.path, 'base.qcow2')
    makeQcow2(path, '64M')
    image = {ref: 'base', path, format: 'qcow2', virtualSizeBytes: 64 * 1024 ** 2}
  })
  afterEach(async () => scratch.remove())

  it('overlay: a qcow2 of the requested size backed by the image', async () => {
    const spec = guestSpec({diskGb: 2})
    const progress: Progress[] = []
    const disk = await prepareDisk(spec, image, 'overlay', paths, (p) => progress.push(p))
    expect(disk).to.deep.equal({path: paths.disk(spec.id), format: 'qcow2', sizeGb: 2})
    const info = qemuImgInfo(disk.path)
    expect(info.format).to.equal('qcow2')
    expect(info['virtual-size']).to.equal(2 * GIB)
    expect(info['backing-filename']).to.equal(image.path)
    expect(info['backing-filename-format']).to.equal('qcow2')
    expect(progress.map((p) => p.phase)).to.include('disk')
    expect(progress.at(-1)?.percent).to.equal(100)
  })

  it('copy: a standalone qcow2 of the requested size', async () => {
    const spec = guestSpec({diskGb: 1})
    const disk = await prepareDisk(spec, image, 'copy', paths, () => {})
    const info = qemuImgInfo(disk.path)
    expect(info.format).to.equal('qcow2')
    expect(info['virtual-size']).to.equal(GIB)
    expect(info['backing-filename']).to.equal(undefined)
  })

  it('replaces a disk prepared before and leaves no temporary file', async () => {
    const spec = guestSpec({diskGb: 1})
    await prepareDisk(spec, image, 'copy', paths, () => {})
    const disk = await prepareDisk({...spec, diskGb: 2}, image, 'overlay', paths, () => {})
    expect(qemuImgInfo(disk.path)['virtual-size']).to.equal(2 * GIB)
    expect(existsSync(disk.path + '.building')).to.equal(false)
  })

  it('refuses a disk smaller than the image', async () => {
    const big: ImageInfo = {...image, virtualSizeBytes: 3 * GIB}
    const spec = guestSpec({diskGb: 2})
    const error = await rejection(prepareDisk(spec, big, 'overlay', paths, () => {}))
    expect(error.reason).to.equal('config')
    expect(error.message).to.match(/2 GiB disk but image base is 3 GiB; ask for at least 3 GiB/)
    expect(existsSync(paths.dir(spec.id)), 'nothing made').to.equal(false)
  })

  it('says the resize strategy is not implemented yet', async () => {
    const error = await rejection(prepareDisk(guestSpec(), image, 'resize', paths, () => {}))
    expect(error.reason).to.equal('config')
    expect(error.message).to.match(/not implemented yet/)
  })
})
