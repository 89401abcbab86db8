// The backend's lifecycle against libvirt's test driver (test:///default):
// in-memory and never started for real. Connections of one process can share
// its state (domain handles keep it alive), so tests only look at their own ids.
import {expect} from 'chai'
import {existsSync} from 'node:fs'
import {mkdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {resolveSettings} from '../src/config.js'
import {LibvirtHypervisor} from '../src/hypervisor.js'
import {guestSpec, rejection, scratchDir} from './helpers.js'

describe('libvirt backend on test:///default', () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>>
  let backend: LibvirtHypervisor

  beforeEach(async () => {
    scratch = await scratchDir()
    backend = new LibvirtHypervisor(resolveSettings({uri: 'test:///default'}, scratch.path), 'test')
  })
  afterEach(async () => {
    await backend.close()
    await scratch.remove()
  })

  async function listed(...ids: string[]) {
    return (await backend.list()).filter((guest) => ids.includes(guest.id))
  }

  function diskOf(id: string) {
    return {path: join(scratch.path, 'instances', id, 'disk.qcow2'), format: 'qcow2', sizeGb: 1}
  }

  it('defines, starts, lists and destroys a guest', async () => {
    const spec = guestSpec({name: 'alpha'})
    await backend.define(spec, diskOf(spec.id))
    expect(existsSync(join(scratch.path, 'instances', spec.id)), 'instance directory').to.equal(true)
    expect(await listed(spec.id)).to.deep.equal([{id: spec.id, name: 'alpha', state: 'shutoff', defined: true}])

    await backend.start(spec.id)
    await backend.start(spec.id) // starting a running guest is fine
    expect(await listed(spec.id)).to.deep.equal([{id: spec.id, name: 'alpha', state: 'running', defined: true}])

    await backend.destroy(spec.id)
    expect(await listed(spec.id)).to.deep.equal([])
    expect(existsSync(join(scratch.path, 'instances', spec.id)), 'instance directory').to.equal(false)
  })

  it("ignores domains that are not ec's", async () => {
    // The test driver always has a running domain called "test".
    expect((await backend.list()).map((guest) => guest.name)).to.not.include('test')
    for (const guest of await backend.list()) expect(guest.id).to.match(/^[0-9a-f-]{36}$/)
  })

  it("leaves another agent's guests alone on a shared libvirtd: they are not listed, so never removed as unassigned", async () => {
    const other = await scratchDir()
    const neighbour = new LibvirtHypervisor(resolveSettings({uri: 'test:///default'}, other.path), 'test')
    try {
      const mine = guestSpec({name: 'mine'})
      const theirs = guestSpec({name: 'theirs'})
      await backend.define(mine, diskOf(mine.id))
      await neighbour.define(theirs, {...diskOf(theirs.id), path: join(other.path, 'instances', theirs.id, 'disk.qcow2')})
      expect((await listed(mine.id, theirs.id)).map((g) => g.name)).to.deep.equal(['mine'])
      expect((await neighbour.list()).filter((g) => [mine.id, theirs.id].includes(g.id)).map((g) => g.name)).to.deep.equal(['theirs'])
      await neighbour.destroy(theirs.id)
    } finally {
      await neighbour.close()
      await other.remove()
    }
  })

  it('replaces the definition when the same id is defined again', async () => {
    const spec = guestSpec({name: 'before'})
    await backend.define(spec, diskOf(spec.id))
    await backend.define({...spec, name: 'after', vcpus: 2}, diskOf(spec.id))
    expect(await listed(spec.id)).to.deep.equal([{id: spec.id, name: 'after', state: 'shutoff', defined: true}])
  })

  it('destroys a guest that was never defined without complaint', async () => {
    const spec = guestSpec()
    await backend.destroy(spec.id)
    await backend.destroy(spec.id)
  })

  it('destroys a half-made guest: files but no domain, which list() reports as not defined', async () => {
    const spec = guestSpec()
    const dir = join(scratch.path, 'instances', spec.id)
    await mkdir(dir, {recursive: true})
    await writeFile(join(dir, 'disk.qcow2.building'), 'partial')
    expect(await listed(spec.id)).to.deep.equal([{id: spec.id, name: '', state: 'shutoff', defined: false}])
    await backend.destroy(spec.id)
    expect(await listed(spec.id)).to.deep.equal([])
    expect(existsSync(dir)).to.equal(false)
  })

  it('destroys a half-made guest: a domain whose disk was never made', async () => {
    const spec = guestSpec()
    await backend.define(spec, diskOf(spec.id))
    await backend.destroy(spec.id)
    await backend.destroy(spec.id)
    expect(await listed(spec.id)).to.deep.equal([])
  })

  it('refuses to start a guest that is not defined', async () => {
    const error = await rejection(backend.start(guestSpec().id))
    expect(error.reason).to.equal('notFound')
  })

  it('refuses an id that is not a UUID before touching any path', async () => {
    const error = await rejection(backend.destroy('../../etc'))
    expect(error.reason).to.equal('config')
  })

  it("reads the console log, or '' before there is one", async () => {
    const spec = guestSpec()
    expect(await backend.consoleLog(spec.id)).to.equal('')
    await mkdir(join(scratch.path, 'instances', spec.id), {recursive: true})
    await writeFile(join(scratch.path, 'instances', spec.id, 'console.log'), 'Booting…\nlogin:')
    expect(await backend.consoleLog(spec.id)).to.equal('Booting…\nlogin:')
  })

  it('knows no addresses with user networking', async () => {
    const spec = guestSpec()
    await backend.define(spec, diskOf(spec.id))
    expect(await backend.guestAddresses(spec.id)).to.deep.equal([])
  })

  it('reports health with the endpoint and the libvirt version', async () => {
    const health = await backend.health()
    expect(health.ok).to.equal(true)
    expect(health.endpoint).to.equal('test:///default')
    expect(health.version).to.match(/^libvirt \d+\.\d+/)
  })
})
