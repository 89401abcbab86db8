// The hypervisor contract as mocha tests any HypervisorBackend runs against
// itself: describeHost's shape, one shared download for concurrent
// ensureImage calls, a guest's life (prepare, define, start twice, destroy
// twice), and destroying what was never made or only half made.
import assert from 'node:assert/strict'
import {createHash, randomUUID} from 'node:crypto'
import {readFile} from 'node:fs/promises'

import type {GuestSpec, HypervisorBackend, ImageInfo, Progress} from '../hypervisor.js'
import {type ImageServer, serveImage} from './image-server.js'

export interface HypervisorContractOptions {
  /** A backend to test; the suite closes it at the end. */
  create(): Promise<HypervisorBackend>
  /** A small disk image this backend can boot from or at least prepare a disk of (e.g. a 16 MiB qcow2). */
  imageFile(): Promise<string>
  /** Fields every guest the suite makes gets (e.g. a smaller memoryMb). */
  spec?: Partial<GuestSpec>
  /** Per test; default 60 s. */
  timeoutMs?: number
}

const TRAIT = /^[A-Z][A-Z0-9_]*$/

/** Define `describe(<name>: hypervisor contract)` with its tests. Call it at the top level of a mocha test file. */
export function hypervisorContract(name: string, options: HypervisorContractOptions): void {
  describe(`${name}: hypervisor contract (@ec/plugin-api/testing)`, function () {
    this.timeout(options.timeoutMs ?? 60_000)
    let backend: HypervisorBackend
    let server: ImageServer
    let imageFile: string
    const made = new Set<string>()

    before(async () => {
      imageFile = await options.imageFile()
      server = await serveImage(imageFile)
      backend = await options.create()
    })
    after(async () => {
      for (const id of made) await backend?.destroy(id).catch(() => undefined)
      await backend?.close()
      await server?.close()
    })

    function spec(image: ImageInfo | undefined, overrides: Partial<GuestSpec> = {}): GuestSpec {
      const id = randomUUID()
      made.add(id)
      return {
        id,
        name: `contract-${id.slice(0, 8)}`,
        vcpus: 1,
        memoryMb: 64,
        diskGb: 1,
        image: {ref: image?.ref ?? 'none', url: image ? server.url() : undefined},
        ...options.spec,
        ...overrides,
      }
    }

    async function listed(id: string) {
      return (await backend.list()).find((guest) => guest.id === id)
    }

    it('describes the host: capacity, traits and capabilities', async () => {
      const host = await backend.describeHost()
      for (const key of ['vcpus', 'memoryMb', 'diskGb'] as const) {
        assert.ok(Number.isInteger(host.capacity[key]) && host.capacity[key] > 0, `capacity.${key} is a positive integer (${host.capacity[key]})`)
      }

      assert.ok(Array.isArray(host.capacity.numaNodes), 'capacity.numaNodes is a list')
      for (const trait of host.traits) assert.match(trait, TRAIT, 'traits are os-traits or CUSTOM_ names')
      const {capabilities} = host
      assert.ok(capabilities.diskStrategies.length > 0, 'it can prepare at least one kind of disk')
      for (const s of capabilities.diskStrategies) assert.ok(['overlay', 'copy', 'resize'].includes(s), `known disk strategy ${s}`)
      for (const flag of ['smbios', 'cdrom', 'portForwarding', 'numaPinning'] as const) assert.equal(typeof capabilities[flag], 'boolean', flag)
      if (capabilities.portForwarding) assert.equal(typeof backend.forwardPorts, 'function', 'portForwarding needs forwardPorts()')
    })

    it('shares one download between concurrent ensureImage calls, and then serves it from the cache', async () => {
      const url = server.url('shared')
      const sha256 = createHash('sha256').update(await readFile(imageFile)).digest('hex')
      const progress: Progress[] = []
      const source = {ref: url, url, sha256}
      const images = await Promise.all([1, 2, 3].map(() => backend.ensureImage(source, (p) => progress.push(p))))
      assert.equal(server.gets('shared'), 1, 'three concurrent calls fetched the image once')
      assert.ok(images.every((image) => image.path === images[0].path), 'they got the same image')
      assert.ok(images[0].virtualSizeBytes > 0, 'with its virtual size')
      for (const p of progress) assert.equal(p.phase, 'image', 'progress is reported as the image phase')
      await backend.ensureImage(source, () => undefined)
      assert.equal(server.gets('shared'), 1, 'a later call found it in the cache')
      const cached = (await backend.listImages()).find((image) => image.path === images[0].path)
      assert.ok(cached, 'listImages() shows it')
    })

    it('refuses an image whose checksum does not match, with a reason', async () => {
      const url = server.url('wrong-sum')
      await assert.rejects(
        backend.ensureImage({ref: url, url, sha256: '0'.repeat(64)}, () => undefined),
        (error: Error & {reason?: string}) => typeof error.reason === 'string' && error.message.length > 0,
      )
    })

    it('runs a guest: prepare, define, start (twice: starting a running guest is no error), destroy (twice)', async () => {
      const source = {ref: server.url(), url: server.url()}
      const image = await backend.ensureImage(source, () => undefined)
      const guest = spec(image)
      const disk = await backend.prepareDisk(guest, image, () => undefined)
      assert.ok(disk.sizeGb >= 1, 'the disk has the asked size')
      await backend.define(guest, disk)
      assert.equal((await listed(guest.id))?.defined, true, 'a defined guest is listed')
      await backend.start(guest.id)
      await backend.start(guest.id)
      assert.equal((await listed(guest.id))?.state, 'running')
      assert.equal(typeof (await backend.consoleLog(guest.id)), 'string')
      assert.ok(Array.isArray(await backend.guestAddresses(guest.id)))
      await backend.destroy(guest.id)
      assert.equal(await listed(guest.id), undefined, 'a destroyed guest is gone')
      await backend.destroy(guest.id)
      assert.equal(await listed(guest.id), undefined)
    })

    it('replaces a definition when the same id is defined again', async () => {
      const source = {ref: server.url(), url: server.url()}
      const image = await backend.ensureImage(source, () => undefined)
      const guest = spec(image, {name: 'before'})
      const disk = await backend.prepareDisk(guest, image, () => undefined)
      await backend.define(guest, disk)
      await backend.define({...guest, name: 'after'}, disk)
      const guests = (await backend.list()).filter((g) => g.id === guest.id)
      assert.equal(guests.length, 1, 'one guest per id')
      assert.equal(guests[0].name, 'after')
      await backend.destroy(guest.id)
    })

    it('destroys a guest that never existed, and one only half made (a disk, no definition)', async () => {
      await backend.destroy(randomUUID())
      const source = {ref: server.url(), url: server.url()}
      const image = await backend.ensureImage(source, () => undefined)
      const guest = spec(image)
      await backend.prepareDisk(guest, image, () => undefined)
      await backend.destroy(guest.id)
      assert.equal(await listed(guest.id), undefined, 'nothing of it is left')
    })
  })
}
