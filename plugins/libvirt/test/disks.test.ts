// Disk preparation with the real qemu-img, on small blank images.
import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {join} from 'node:path'

import type {ImageInfo, Progress} from '@ec/plugin-api'
import {GIB, prepareDisk} from '../src/disks.js'
import {InstancePaths} from '../src/naming.js'
import {REPO_ROOT} from '../../../test/helpers/cli.js'
import {guestSpec, makeQcow2, qemuImgInfo, rejection, scratchDir} from './helpers.js'

const RESIZE = {partition: '/dev/sda1', forceTcg: true}

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
    const disk = await prepareDisk(spec, image, 'overlay', paths, (p) => progress.push(p), RESIZE)
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
    const disk = await prepareDisk(spec, image, 'copy', paths, () => {}, RESIZE)
    const info = qemuImgInfo(disk.path)
    expect(info.format).to.equal('qcow2')
    expect(info['virtual-size']).to.equal(GIB)
    expect(info['backing-filename']).to.equal(undefined)
  })

  it('replaces a disk prepared before and leaves no temporary file', async () => {
    const spec = guestSpec({diskGb: 1})
    await prepareDisk(spec, image, 'copy', paths, () => {}, RESIZE)
    const disk = await prepareDisk({...spec, diskGb: 2}, image, 'overlay', paths, () => {}, RESIZE)
    expect(qemuImgInfo(disk.path)['virtual-size']).to.equal(2 * GIB)
    expect(existsSync(disk.path + '.building')).to.equal(false)
  })

  it('refuses a disk smaller than the image', async () => {
    const big: ImageInfo = {...image, virtualSizeBytes: 3 * GIB}
    const spec = guestSpec({diskGb: 2})
    const error = await rejection(prepareDisk(spec, big, 'overlay', paths, () => {}, RESIZE))
    expect(error.reason).to.equal('config')
    expect(error.message).to.match(/2 GiB disk but image base is 3 GiB; ask for at least 3 GiB/)
    expect(existsSync(paths.dir(spec.id)), 'nothing made').to.equal(false)
  })

  it('resize of an image without that partition fails with the reason and leaves no disk', async function () {
    this.timeout(300_000)
    const spec = guestSpec({diskGb: 1})
    const error = await rejection(prepareDisk(spec, image, 'resize', paths, () => {}, RESIZE))
    expect(error.reason).to.equal('failure')
    expect(error.message).to.match(new RegExp(`^could not prepare the disk of instance ${spec.id} from .*base\\.qcow2: virt-resize failed`))
    expect(existsSync(paths.disk(spec.id))).to.equal(false)
    expect(existsSync(paths.disk(spec.id) + '.building')).to.equal(false)
  })

  it('resize: a new disk of the requested size with the root partition expanded into it (virt-resize)', async function () {
    this.timeout(300_000)
    // The test image has an MBR and one ext4 root partition, as cloud images do.
    const built = join(REPO_ROOT, 'build', 'test-image', 'ec-test.qcow2')
    execFileSync('bash', [join(REPO_ROOT, 'scripts', 'build-test-image.sh'), built], {stdio: 'ignore'})
    const source: ImageInfo = {ref: 'ec-test', path: built, format: 'qcow2', virtualSizeBytes: qemuImgInfo(built)['virtual-size'] as number}
    const spec = guestSpec({diskGb: 1})
    const messages: string[] = []
    const disk = await prepareDisk(spec, source, 'resize', paths, (p) => p.message && messages.push(p.message), RESIZE)
    const info = qemuImgInfo(disk.path)
    expect(info['virtual-size']).to.equal(GIB)
    expect(info['backing-filename']).to.equal(undefined)
    expect(messages.some((m) => /Expanding \/dev\/sda1/.test(m)), messages.join(' | ')).to.equal(true)
    // The partition (and its filesystem) now fills the disk, not just the disk's end.
    const partitions = execFileSync('virt-filesystems', ['--partitions', '--long', '--csv', '-a', disk.path], {
      env: {...process.env, LIBGUESTFS_BACKEND: 'direct', LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg'},
      encoding: 'utf8',
    })
    const size = Number(partitions.split('\n').find((l) => l.startsWith('/dev/sda1'))!.split(',')[3]) // Name,Type,MBR,Size,Parent
    expect(size).to.be.above(0.95 * GIB)
  })
})
