import {expect} from 'chai'
import {createServer, type Server} from 'node:net'

import type {PortForward} from '../src/hypervisor.js'

import {hostPort, PortAllocator, portTakenFailure} from '../src/ports.js'

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

  it("picks again for the same guest: its own definition does not count, a port another program took now is never picked, a fixed one stays", async () => {
    const definitions = new Map<string, PortForward[]>()
    const allocator = new PortAllocator('127.0.0.1', async (except) => [...definitions].filter(([id]) => id !== except).flatMap(([, f]) => f))
    const fixed = await listening()
    servers.pop()!.close() // free again: the guest asks for it
    const first = await allocator.allocate('a', [{guest: 80, host: fixed, proto: 'tcp'}])
    definitions.set('a', first)
    const ssh = hostPort(first[0])
    // Another program takes the SSH port before the guest starts.
    const squatter = createServer()
    servers.push(squatter)
    await new Promise<void>((resolve) => squatter.listen({host: '127.0.0.1', port: ssh, exclusive: true}, resolve))

    const again = await allocator.allocate('a', [{guest: 80, host: fixed, proto: 'tcp'}])
    expect(again[1], 'the fixed port is kept').to.deep.equal({guest: 80, host: `127.0.0.1:${fixed}`, proto: 'tcp'})
    expect(hostPort(again[0])).to.not.equal(ssh)
    // Another guest still may not have any of them.
    const other = await allocator.allocate('b', [{guest: 22, host: fixed, proto: 'tcp'}]).then(() => 'allocated', (error: Error) => error.message)
    expect(other).to.match(/is in use/)
  })

  it("reads qemu's failed forward out of libvirt's error; any other failure is not one", () => {
    const libvirt = new Error(
      "internal error: qemu unexpectedly closed the monitor: 2026-12-02T12:00:00.000000Z qemu-system-x86_64: -netdev user,id=ecnet0,hostfwd=tcp:127.0.0.1:40123-:22: Could not set up host forwarding rule 'tcp:127.0.0.1:40123-:22'",
    )
    const taken = portTakenFailure(libvirt)!
    expect(taken.takenPort).to.deep.equal({host: '127.0.0.1:40123', proto: 'tcp'})
    expect(taken.reason).to.equal('conflict')
    expect(taken.message).to.equal('host port 127.0.0.1:40123/tcp, forwarded to the guest, was taken by another program before the guest started (qemu could not listen on it)')
    expect(portTakenFailure(new Error('internal error: process exited while connecting to monitor'))).to.equal(undefined)
  })
})
