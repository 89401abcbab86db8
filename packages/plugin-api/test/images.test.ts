import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {readdir, readFile, writeFile} from 'node:fs/promises'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'

import type {Progress} from '../src/hypervisor.js'
import {ImageStore} from '../src/images.js'
import {makeQcow2, rejection, scratchDir} from './helpers.js'

describe('image store', () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>>
  let store: ImageStore
  const ignore = () => {}

  beforeEach(async () => {
    scratch = await scratchDir()
    store = new ImageStore(join(scratch.path, 'images'))
  })
  afterEach(async () => scratch.remove())

  describe('local paths', () => {
    it('reads format and virtual size', async () => {
      const path = join(scratch.path, 'base.qcow2')
      makeQcow2(path, '64M')
      const info = await store.ensure({ref: 'base', path}, ignore)
      expect(info).to.deep.equal({ref: 'base', path, format: 'qcow2', virtualSizeBytes: 64 * 1024 ** 2})
    })

    it('says notFound, naming the path, for a missing file', async () => {
      const path = join(scratch.path, 'missing.qcow2')
      const error = await rejection(store.ensure({ref: 'x', path}, ignore))
      expect(error.reason).to.equal('notFound')
      expect(error.message).to.include(path)
    })

    it('says config for a file that is not a disk image', async () => {
      const path = join(scratch.path, 'notes.txt')
      await writeFile(path, 'not an image\n')
      const error = await rejection(store.ensure({ref: 'x', path}, ignore))
      expect(error.reason).to.equal('config')
      expect(error.message).to.include(path)
    })

    it('says config for a directory', async () => {
      expect((await rejection(store.ensure({ref: 'x', path: scratch.path}, ignore))).reason).to.equal('config')
    })

    it('verifies a given checksum', async () => {
      const path = join(scratch.path, 'base.qcow2')
      makeQcow2(path, '1M')
      const sha256 = createHash('sha256').update(await readFile(path)).digest('hex')
      expect((await store.ensure({ref: 'x', path, sha256}, ignore)).sha256).to.equal(sha256)
      const error = await rejection(store.ensure({ref: 'x', path, sha256: '0'.repeat(64)}, ignore))
      expect(error.reason).to.equal('config')
    })
  })

  describe('URLs (served on loopback)', () => {
    let server: Server
    let base: string
    let image: Buffer
    let requests: number
    /** When set, the server holds each response until it resolves. */
    let gate: Promise<void> | undefined

    beforeEach(async () => {
      const path = join(scratch.path, 'served.qcow2')
      makeQcow2(path, '32M')
      image = await readFile(path)
      requests = 0
      gate = undefined
      server = createServer(async (request, response) => {
        requests++
        if (request.url !== '/image.qcow2') {
          response.writeHead(404).end()
          return
        }

        response.writeHead(200, {'content-length': String(image.length)})
        response.write(image.subarray(0, 1024))
        await gate
        response.end(image.subarray(1024))
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })
    afterEach(async () => {
      server.closeAllConnections() // fetch keeps connections alive, and close() would wait them out
      await new Promise<void>((resolve) => server.close(() => resolve()))
    })

    it('downloads into the cache once, shared by concurrent callers, and reports progress', async () => {
      let release!: () => void
      gate = new Promise((resolve) => (release = resolve))
      const progress: Progress[][] = [[], [], []]
      const url = `${base}/image.qcow2`
      const calls = progress.map((seen) => store.ensure({ref: 'served', url}, (p) => seen.push(p)))
      setTimeout(() => release(), 100)
      const infos = await Promise.all(calls)

      expect(requests).to.equal(1)
      for (const info of infos) {
        expect(info).to.include({path: store.pathFor(url), format: 'qcow2', virtualSizeBytes: 32 * 1024 ** 2})
        expect(info.sha256).to.equal(createHash('sha256').update(image).digest('hex'))
      }

      for (const seen of progress) {
        expect(seen.every((p) => p.phase === 'image')).to.equal(true)
        expect(seen.at(-1)?.percent).to.equal(100)
      }

      expect(progress[0].some((p) => p.percent !== undefined && p.percent > 0 && p.percent < 100), 'intermediate progress').to.equal(true)

      await store.ensure({ref: 'served', url}, ignore)
      expect(requests, 'a cached image is not fetched again').to.equal(1)
    })

    it('keeps nothing when the checksum does not match', async () => {
      const error = await rejection(store.ensure({ref: 'served', url: `${base}/image.qcow2`, sha256: 'f'.repeat(64)}, ignore))
      expect(error.reason).to.equal('config')
      expect(await readdir(join(scratch.path, 'images'))).to.deep.equal([])
    })

    it('never replaces a cached image that another checksum is asked for', async () => {
      const url = `${base}/image.qcow2`
      await store.ensure({ref: 'served', url}, ignore)
      const error = await rejection(store.ensure({ref: 'served', url, sha256: 'e'.repeat(64)}, ignore))
      expect(error.reason).to.equal('conflict')
      expect(error.message).to.include(store.pathFor(url))
      expect(requests).to.equal(1)
    })

    it('says notFound for a 404', async () => {
      const error = await rejection(store.ensure({ref: 'gone', url: `${base}/missing.qcow2`}, ignore))
      expect(error.reason).to.equal('notFound')
    })

    it('stops the download when every caller gives up', async () => {
      gate = new Promise(() => {}) // never finishes on its own
      const controller = new AbortController()
      const url = `${base}/image.qcow2`
      const call = store.ensure({ref: 'served', url}, ignore, controller.signal)
      setTimeout(() => controller.abort(new Error('given up')), 100)
      expect((await rejection(call)).message).to.equal('given up')
      await new Promise((resolve) => setTimeout(resolve, 100))
      expect(existsSync(store.pathFor(url))).to.equal(false)
      expect(await readdir(join(scratch.path, 'images'))).to.deep.equal([])
    })
  })
})
