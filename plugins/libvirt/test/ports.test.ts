import {expect} from 'chai'
import {createServer, type Server} from 'node:net'

import type {PortForward} from '@ec/plugin-api'

import {hostPort, PortAllocator} from '../src/ports.js'

describe('port allocator', () => {
  const servers: Server[] = []
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))))
  })

  async function listening(): Promise<number> {
    const server = createServer()
    servers.push(server)
    await new Promise<void>((resolve) => server.listen({host: '127.0.0.1', port: 0}, resolve))
    return (server.address() as {port: number}).port
  }

  it('always forwards SSH, and never gives two concurrent builds the same port', async () => {
    const allocator = new PortAllocator('127.0.0.1', async () => [])
    const all = await Promise.all(Array.from({length: 30}, (_, i) => allocator.allocate(`guest-${i}`, [{guest: 80, host: 0, proto: 'tcp'}])))
    for (const forwards of all) {
      expect(forwards.map((f) => [f.guest, f.proto])).to.deep.equal([[22, 'tcp'], [80, 'tcp']])
      for (const f of forwards) expect(f.host).to.match(/^127\.0\.0\.1:\d+$/)
    }

    const ports = all.flat().map((f) => hostPort(f))
    expect(new Set(ports).size).to.equal(ports.length)
  })

  it("skips ports in other guests' definitions; a released guest's ports are free again", async () => {
    const defined: PortForward[] = []
    const allocator = new PortAllocator('127.0.0.1', async () => defined)
    const first = await allocator.allocate('a', [])
    defined.push(...first) // now in a's domain definition
    const port = hostPort(first[0])
    const refused = await allocator.allocate('b', [{guest: 22, host: port, proto: 'tcp'}]).then(() => 'allocated', (error: Error) => error.message)
    expect(refused).to.match(/is in use/)
    defined.length = 0
    allocator.release('a')
    expect(await allocator.allocate('b', [{guest: 22, host: port, proto: 'tcp'}])).to.deep.equal([{guest: 22, host: `127.0.0.1:${port}`, proto: 'tcp'}])
  })

  it('refuses a fixed host port another program listens on, saying what to do', async () => {
    const busy = await listening()
    const allocator = new PortAllocator('127.0.0.1', async () => [])
    const refused = await allocator.allocate('a', [{guest: 80, host: busy, proto: 'tcp'}]).then(
      () => undefined,
      (error: Error & {reason?: string}) => error,
    )
    expect(refused?.message).to.equal(`host port 127.0.0.1:${busy}/tcp is in use; publish on another HOST_PORT, or 0 for any free one`)
    expect(refused?.reason).to.equal('conflict')
    // udp is another port space: the same number is free there
    expect((await allocator.allocate('a', [{guest: 53, host: busy, proto: 'udp'}]))[1]).to.deep.equal({guest: 53, host: `127.0.0.1:${busy}`, proto: 'udp'})
  })
})
