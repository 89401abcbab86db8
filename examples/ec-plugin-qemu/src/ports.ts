// Host ports forwarded into guests (slirp hostfwd). A port is a guest's while
// its definition names it, and from the moment it is handed out until then;
// allocations run one at a time, so concurrent builds never get the same one.
// (The same policy as the libvirt backend's: a candidate for @ec/plugin-api.)
import {createSocket} from 'node:dgram'
import {createServer} from 'node:net'

import type {PortForward, PortRequest} from '@ec/plugin-api'

import {QemuBackendError} from './errors.js'

/** Every guest gets SSH forwarded, so `ec instance ssh` has a way in. */
export const SSH_PORT = 22

export class PortAllocator {
  private queue: Promise<unknown> = Promise.resolve()
  private readonly handedOut = new Map<string, PortForward[]>()

  constructor(
    private readonly address: string,
    /** Forwards in the definitions of this host's guests. */
    private readonly defined: () => Promise<Array<{id: string; forwards: PortForward[]}>>,
  ) {}

  allocate(id: string, requested: PortRequest[]): Promise<PortForward[]> {
    const run = this.queue.then(() => this.allocateNow(id, requested))
    this.queue = run.catch(() => undefined)
    return run
  }

  release(id: string): void {
    this.handedOut.delete(id)
  }

  private async allocateNow(id: string, requested: PortRequest[]): Promise<PortForward[]> {
    const wanted = requested.some((r) => r.guest === SSH_PORT && r.proto === 'tcp') ? requested : [{guest: SSH_PORT, host: 0, proto: 'tcp' as const}, ...requested]
    const taken = new Set<string>()
    const others = [...this.handedOut].filter(([owner]) => owner !== id).map(([, forwards]) => forwards)
    for (const guest of await this.defined()) if (guest.id !== id) others.push(guest.forwards)
    for (const f of others.flat()) taken.add(`${f.proto}/${hostPort(f)}`)

    const forwards: PortForward[] = []
    for (const {guest, host, proto} of wanted) {
      let port = host
      if (host === 0) {
        for (let i = 0; i < 20 && (port === 0 || taken.has(`${proto}/${port}`)); i++) port = (await bindOnce(this.address, 0, proto)) ?? 0
        if (port === 0 || taken.has(`${proto}/${port}`)) throw new QemuBackendError('environment', `found no free ${proto} port on ${this.address} (qemu.forwardAddress) for a guest's forward`)
      } else if (taken.has(`${proto}/${host}`) || (await bindOnce(this.address, host, proto)) === undefined) {
        throw new QemuBackendError('conflict', `host port ${this.address}:${host}/${proto} is in use; publish on another HOST_PORT, or 0 for any free one`)
      }

      taken.add(`${proto}/${port}`)
      forwards.push({guest, host: `${this.address}:${port}`, proto})
    }

    this.handedOut.set(id, forwards)
    return forwards
  }
}

export function hostPort(forward: PortForward): number {
  return Number(forward.host.slice(forward.host.lastIndexOf(':') + 1))
}

/** Bind and close at once: the bound port, or undefined when binding failed. */
function bindOnce(address: string, port: number, proto: PortRequest['proto']): Promise<number | undefined> {
  return new Promise((resolve) => {
    if (proto === 'udp') {
      const socket = createSocket('udp4')
      socket.once('error', () => {
        socket.close()
        resolve(undefined)
      })
      socket.bind({address, port, exclusive: true}, () => {
        const bound = socket.address().port
        socket.close(() => resolve(bound))
      })
      return
    }

    const server = createServer()
    server.once('error', () => resolve(undefined))
    server.listen({host: address, port, exclusive: true}, () => {
      const bound = (server.address() as {port: number}).port
      server.close(() => resolve(bound))
    })
  })
}
