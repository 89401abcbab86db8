// @ec/plugin-api/ports: host ports forwarded into guests under user
// networking (qemu's slirp hostfwd), the same for every hypervisor that runs
// qemu guests (ec's libvirt backend, examples/ec-plugin-qemu). A port is a
// guest's while its definition names it, and from the moment it is handed
// out until then; allocations are made one at a time, so concurrent builds on this host never get the same port. A port
// the kernel picks (HOST_PORT 0) is also free of other programs' sockets at
// that moment; one that another program takes before the guest starts makes
// the start fail with qemu's "Could not set up host forwarding rule", which
// start() reports as a PortTakenError: the build then asks for new ports
// (the guest's own definition no longer counts as taking them) and redefines.
import {createSocket} from 'node:dgram'
import {createServer} from 'node:net'

import {EcError, messageOf} from './errors.js'
import type {PortForward, PortRequest, PortTakenError} from './hypervisor.js'

/** Every guest gets SSH forwarded, so `ec instance ssh` has a way in. */
export const SSH_PORT = 22

const KERNEL_PICKS = 20

export class PortAllocator {
  private queue: Promise<unknown> = Promise.resolve()
  /** Handed out and maybe not yet in a domain definition. */
  private readonly handedOut = new Map<string, PortForward[]>()

  constructor(
    /** The host address forwards listen on. */
    private readonly address: string,
    /** Forwards in the definitions of the guests this host has now, but the one of `except`. */
    private readonly defined: (except?: string) => Promise<PortForward[]>,
    /** The config key `address` comes from, for error messages (e.g. libvirt.forwardAddress). */
    private readonly setting = 'forwardAddress',
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
      throw new EcError('conflict', `host port ${this.address}:${host}/${proto} is in use; publish on another HOST_PORT, or 0 for any free one`)
    }

    return host
  }

  private async freePort(proto: PortRequest['proto'], taken: Set<string>): Promise<number> {
    for (let i = 0; i < KERNEL_PICKS; i++) {
      const port = await kernelPick(this.address, proto, this.setting)
      if (!taken.has(slot(proto, port))) return port
    }

    throw new EcError('environment', `found no free ${proto} port on ${this.address} for a guest's forward`)
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
function kernelPick(address: string, proto: PortRequest['proto'], setting: string): Promise<number> {
  return bindOnce(address, 0, proto).then((port) => {
    if (port === undefined) throw new EcError('environment', `cannot bind a ${proto} port on ${address} (${setting}): is it an address of this host?`)
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

/** start()'s PortTakenError: the build picks new ports and redefines. */
export class PortTakenFailure extends EcError implements PortTakenError {
  constructor(
    readonly takenPort: {host: string; proto: PortForward['proto']},
    cause: unknown,
  ) {
    super('conflict', `host port ${takenPort.host}/${takenPort.proto}, forwarded to the guest, was taken by another program before the guest started (qemu could not listen on it)`, {cause})
    this.name = 'PortTakenFailure'
  }
}

/** qemu (its error, or its stderr) could not listen on a forwarded host port: the error a build re-picks ports on; undefined for any other failure. */
export function portTakenFailure(error: unknown): PortTakenFailure | undefined {
  const match = messageOf(error).match(HOSTFWD_FAILED)
  if (!match) return undefined
  return new PortTakenFailure({host: `${match[2]}:${match[3]}`, proto: match[1] as PortForward['proto']}, error)
}
