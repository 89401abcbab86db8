import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {chmod, readFile, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {createOverlay, imageInfo} from '../src/qemu-img.js'
import {makeQcow2, rejection, scratchDir} from './helpers.js'

const GIB = 1024 ** 3

describe('createOverlay', () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>>
  let calls: string
  let savedPath: string | undefined

  // qemu-img through a shim on PATH that notes each run, then runs the real one.
  beforeEach(async () => {
    scratch = await scratchDir()
    calls = join(scratch.path, 'qemu-img-calls')
    const real = execFileSync('sh', ['-c', 'command -v qemu-img'], {encoding: 'utf8'}).trim()
    const shim = join(scratch.path, 'qemu-img')
    await writeFile(shim, `#!/bin/sh\necho "$*" >> '${calls}'\nexec '${real}' "$@"\n`)
    await chmod(shim, 0o755)
    savedPath = process.env.PATH
    process.env.PATH = `${scratch.path}:${savedPath}`
  })

  afterEach(async () => {
    process.env.PATH = savedPath
    await scratch.remove()
  })

  const overlaysByQemuImg = async () => (await readFile(calls, 'utf8').catch(() => '')).split('\n').filter((l) => l.startsWith('create') && l.includes(' -b ')).length

  it('makes a second overlay of the same image and size without qemu-img, byte for byte what qemu-img makes', async () => {
    const base = join(scratch.path, 'base-a.qcow2')
    makeQcow2(base, '64M')
    await createOverlay(base, 'qcow2', join(scratch.path, 'one.qcow2'), 3 * GIB)
    expect(await overlaysByQemuImg()).to.equal(1)
    await createOverlay(base, 'qcow2', join(scratch.path, 'two.qcow2'), 3 * GIB)
    expect(await overlaysByQemuImg(), 'the second overlay ran qemu-img').to.equal(1)

    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', join(scratch.path, 'direct.qcow2'), String(3 * GIB)])
    const direct = await readFile(join(scratch.path, 'direct.qcow2'))
    expect((await readFile(join(scratch.path, 'two.qcow2'))).equals(direct)).to.equal(true)
    expect(await imageInfo(join(scratch.path, 'two.qcow2'))).to.deep.equal({format: 'qcow2', virtualSizeBytes: 3 * GIB, backingFile: base, backingFormat: 'qcow2'})
  })

  it('asks qemu-img again for another size or another image', async () => {
    const base = join(scratch.path, 'base-b.qcow2')
    const other = join(scratch.path, 'base-c.qcow2')
    makeQcow2(base, '64M')
    makeQcow2(other, '64M')
    await createOverlay(base, 'qcow2', join(scratch.path, 'one.qcow2'), 3 * GIB)
    await createOverlay(base, 'qcow2', join(scratch.path, 'two.qcow2'), 4 * GIB)
    await createOverlay(other, 'qcow2', join(scratch.path, 'three.qcow2'), 3 * GIB)
    expect(await overlaysByQemuImg()).to.equal(3)
    expect((await imageInfo(join(scratch.path, 'two.qcow2'))).virtualSizeBytes).to.equal(4 * GIB)
    expect((await imageInfo(join(scratch.path, 'three.qcow2'))).backingFile).to.equal(other)
  })

  it('leaves a backing file that went away to qemu-img, which refuses it', async () => {
    const base = join(scratch.path, 'base-d.qcow2')
    makeQcow2(base, '64M')
    await createOverlay(base, 'qcow2', join(scratch.path, 'one.qcow2'), 3 * GIB)
    await rm(base)
    const error = await rejection(createOverlay(base, 'qcow2', join(scratch.path, 'two.qcow2'), 3 * GIB))
    expect(error.message).to.match(/qemu-img failed/)
    expect(await overlaysByQemuImg()).to.equal(2)
  })
})
