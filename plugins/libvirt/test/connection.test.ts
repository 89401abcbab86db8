import {expect} from 'chai'
import {rm} from 'node:fs/promises'
import {connect, createServer, type Server, type Socket} from 'node:net'
import {join} from 'node:path'

import {LibvirtConnection, type Hypervisor} from '../src/connection.js'
import {rejection, scratchDir} from './helpers.js'

/** A stand-in for the binding's Hypervisor: counts opens and closes, fails calls on demand. */
class FakeHypervisor {
  static opened = 0
  static closed = 0
  failNextCallWith?: string
  openError?: string

  async connectOpen() {
    if (this.openError) throw new Error(this.openError)
    FakeHypervisor.opened++
  }

  async connectClose() {
    FakeHypervisor.closed++
  }

  async connectGetHostname() {
    const failure = this.failNextCallWith
    this.failNextCallWith = undefined
    if (failure) throw new Error(failure)
    return 'host'
  }
}

function fakeConnection(setUp: (fake: FakeHypervisor, index: number) => void = () => {}) {
  const made: FakeHypervisor[] = []
  const connection = new LibvirtConnection('qemu:///system', () => {
    const fake = new FakeHypervisor()
    setUp(fake, made.length)
    made.push(fake)
    return fake as unknown as Hypervisor
  })
  return {connection, made}
}

describe('libvirt connection', () => {
  beforeEach(() => {
    FakeHypervisor.opened = 0
    FakeHypervisor.closed = 0
  })

  it('opens once and reuses the connection', async () => {
    const {connection, made} = fakeConnection()
    await Promise.all([1, 2, 3].map(() => connection.run((h) => h.connectGetHostname())))
    expect(made).to.have.length(1)
    await connection.close()
    expect(FakeHypervisor.closed).to.equal(1)
  })

  it('reconnects and retries once when libvirtd dropped the connection', async () => {
    const {connection, made} = fakeConnection((fake, index) => {
      if (index === 0) fake.failNextCallWith = 'internal error: client socket is closed'
    })
    expect(await connection.run((h) => h.connectGetHostname())).to.equal('host')
    expect(made).to.have.length(2)
    expect(FakeHypervisor.closed, 'the dropped connection is closed').to.equal(1)
    await connection.close()
  })

  it('passes other errors through without reconnecting', async () => {
    const {connection, made} = fakeConnection((fake) => {
      fake.failNextCallWith = 'Domain not found'
    })
    expect((await rejection(connection.run((h) => h.connectGetHostname()))).message).to.equal('Domain not found')
    expect(made).to.have.length(1)
    await connection.close()
  })

  it('says unavailable, naming the URI and libvirtd, when it cannot connect', async () => {
    const {connection} = fakeConnection((fake) => {
      fake.openError = "Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory"
    })
    const error = await rejection(connection.run((h) => h.connectGetHostname()))
    expect(error.reason).to.equal('unavailable')
    expect(error.message).to.include('qemu:///system').and.include('libvirtd -d')
    expect(error.message.split('\n')).to.have.length(1)
    expect((error as {notApplied?: boolean}).notApplied, 'nothing reached libvirt').to.equal(true)
  })

  it('says config for a URI no driver takes', async () => {
    const connection = new LibvirtConnection('nosuchdriver:///x')
    expect((await rejection(connection.run((h) => h.connectGetHostname()))).reason).to.equal('config')
  })

  describe('through a socket proxy to the real libvirtd', () => {
    // Cutting the proxy's sockets looks to the client exactly like a libvirtd restart.
    let scratch: Awaited<ReturnType<typeof scratchDir>>
    let proxy: Server
    let socketPath: string
    const sockets = new Set<Socket>()

    beforeEach(async () => {
      scratch = await scratchDir()
      socketPath = join(scratch.path, 'libvirt-sock')
      proxy = createServer((client) => {
        const daemon = connect('/var/run/libvirt/libvirt-sock')
        for (const socket of [client, daemon]) {
          sockets.add(socket)
          socket.on('error', () => {})
          socket.on('close', () => sockets.delete(socket))
        }

        client.pipe(daemon).pipe(client)
        client.on('close', () => daemon.destroy())
        daemon.on('close', () => client.destroy())
      })
      await new Promise<void>((resolve) => proxy.listen(socketPath, resolve))
    })
    afterEach(async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => proxy.close(resolve))
      await rm(socketPath, {force: true})
      await scratch.remove()
    })

    it('survives the connection being cut', async () => {
      const connection = new LibvirtConnection(`qemu+unix:///system?socket=${socketPath}`)
      const before = await connection.run((h) => h.connectGetHostname())
      for (const socket of sockets) socket.destroy()
      expect(await connection.run((h) => h.connectGetHostname())).to.equal(before)
      expect(await connection.run(async (h) => (await h.connectListAllDomains()).length)).to.be.a('number')
      await connection.close()
    })

    it('says unavailable while the daemon is gone, and reconnects once it is back', async () => {
      const connection = new LibvirtConnection(`qemu+unix:///system?socket=${socketPath}`)
      await connection.run((h) => h.connectGetHostname())
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => proxy.close(resolve))
      const error = await rejection(connection.run((h) => h.connectGetHostname()))
      expect(error.reason).to.equal('unavailable')
      expect(error.message).to.include(socketPath)
      expect((error as {notApplied?: boolean}).notApplied, 'the dropped call may have been applied').to.equal(undefined)

      await new Promise<void>((resolve) => proxy.listen(socketPath, resolve))
      expect(await connection.run((h) => h.connectGetHostname())).to.be.a('string')
      await connection.close()
    })
  })
})
