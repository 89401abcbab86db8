// Host ports forwarded into guests under user networking (qemu's slirp
// hostfwd). A port is a guest's while its domain definition names it, and
// from the moment it is handed out until then; allocations are made one at a
// time, so concurrent builds on this host never get the same port. A port
// the kernel picks (HOST_PORT 0) is also free of other programs' sockets at
// that moment; one that another program takes before the guest starts makes
// the start fail with qemu's "Could not set up host forwarding rule", which
// start() reports as a PortTakenError: the build then asks for new ports
// (the guest's own definition no longer counts as taking them) and redefines.
import {createSocket} from 'node:dgram'
import {createServer} from 'node:net'

import type {PortForward, PortRequest, PortTakenError} from '@ec/plugin-api'

import {LibvirtBackendError, messageOf} from './errors.js'

/** Every guest gets SSH forwarded, so `ec instance ssh` has a way in. */
export const SSH_PORT = 22

const KERNEL_PICKS = 20

export class PortAllocator {
  private queue: Promise<unknown> = Promise.resolve()
  /** Handed out and maybe not yet in a domain definition. */
  private readonly handedOut = new Map<string, PortForward[]>()

  constructor(
    private readonly address: string,
    /** Forwards in the definitions of the guests this host has now, but the one of `except`. */
    private readonly defined: (except?: string) => Promise<PortForward[]>,
  ) {}

  /**
   * Ports for `requested` plus SSH, none of them another guest's. Asked again
   * for the same guest, it picks again: its earlier ports (handed out or in
   * its definition) are not counted as taken, but a picked port another
   * program holds now is never picked.
   */
  allocate(id: string, requested: PortRequest[]): Promise<PortForward[]> {
    const run = this.queue.then(() => this.allocateNow(id, requested))
    this.queue = run.catch(() => undefined)
    return run
  }

  /** The guest is gone: its ports may go to others. */
  release(id: string): void {
    this.handedOut.delete(id)
  }

  private async allocateNow(id: string, requested: PortRequest[]): Promise<PortForward[]> {
    const wanted = requested.some((r) => r.guest === SSH_PORT && r.proto === 'tcp') ? requested : [{guest: SSH_PORT, host: 0, proto: 'tcp' as const}, ...requested]
    const taken = new Set<string>()
    for (const [owner, forwards] of this.handedOut) if (owner !== id) for (const f of forwards) taken.add(slot(f.proto, hostPort(f)))
    for (const f of await this.defined(id)) taken.add(slot(f.proto, hostPort(f)))

    const forwards: PortForward[] = []
    for (const request of wanted) {
      const port = request.host === 0 ? await this.freePort(request.proto, taken) : await this.fixedPort(request, taken)
      taken.add(slot(request.proto, port))
      forwards.push({guest: request.guest, host: `${this.address}:${port}`, proto: request.proto})
    }

    this.handedOut.set(id, forwards)
    return forwards
  }

  private async fixedPort({host, proto}: PortRequest, taken: Set<string>): Promise<number> {
    if (taken.has(slot(proto, host)) || !(await canBind(this.address, host, proto))) {
      throw new LibvirtBackendError('conflict', `host port ${this.address}:${host}/${proto} is in use; publish on another HOST_PORT, or 0 for any free one`)
    }

    return host
  }

  private async freePort(proto: PortRequest['proto'], taken: Set<string>): Promise<number> {
    for (let i = 0; i < KERNEL_PICKS; i++) {
      const port = await kernelPick(this.address, proto)
      if (!taken.has(slot(proto, port))) return port
    }

    throw new LibvirtBackendError('environment', `found no free ${proto} port on ${this.address} for a guest's forward`)
  }
}

/** The port of a forward's "ADDRESS:PORT". */
export function hostPort(forward: PortForward): number {
  return Number(forward.host.slice(forward.host.lastIndexOf(':') + 1))
}

function slot(proto: string, port: number): string {
  return `${proto}/${port}`
}

/** A port the kernel considers free on `address` (bind to port 0, read it, let go). */
function kernelPick(address: string, proto: PortRequest['proto']): Promise<number> {
  return bindOnce(address, 0, proto).then((port) => {
    if (port === undefined) throw new LibvirtBackendError('environment', `cannot bind a ${proto} port on ${address} (libvirt.forwardAddress): is it an address of this host?`)
    return port
  })
}

async function canBind(address: string, port: number, proto: PortRequest['proto']): Promise<boolean> {
  return (await bindOnce(address, port, proto)) !== undefined
}

/** Bind and close at once; the bound port, or undefined when binding failed. */
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

const HOSTFWD_FAILED = /Could not set up host forwarding rule '(tcp|udp):([0-9.]*):(\d+)-/

export class LibvirtPortTakenError extends LibvirtBackendError implements PortTakenError {
  constructor(
    readonly takenPort: {host: string; proto: PortForward['proto']},
    cause: unknown,
  ) {
    super('conflict', `host port ${takenPort.host}/${takenPort.proto}, forwarded to the guest, was taken by another program before the guest started (qemu could not listen on it)`, {cause})
  }
}

/** qemu could not listen on a forwarded host port: the error a build re-picks ports on; undefined for any other failure. */
export function portTakenFailure(error: unknown): LibvirtPortTakenError | undefined {
  const match = messageOf(error).match(HOSTFWD_FAILED)
  if (!match) return undefined
  return new LibvirtPortTakenError({host: `${match[2]}:${match[3]}`, proto: match[1] as PortForward['proto']}, error)
}

/** The forwards in a domain's XML (the hostfwd= rules of its qemu:commandline). */
export function forwardsInDomainXml(xml: string): PortForward[] {
  const forwards: PortForward[] = []
  for (const match of xml.matchAll(/hostfwd=(tcp|udp):([0-9.]*):(\d+)-[0-9.]*:(\d+)/g)) {
    forwards.push({proto: match[1] as PortForward['proto'], host: `${match[2]}:${match[3]}`, guest: Number(match[4])})
  }

  return forwards
}
