// One libvirt connection per backend, opened on first use. When libvirtd goes
// away under it (a restart), the next call opens a fresh connection and is
// retried once, so callers never see the restart.
import * as libvirt from '@unraid/libvirt'

import {isConnectionLost, LibvirtBackendError, openFailure, unavailable} from './errors.js'

export type Hypervisor = libvirt.Hypervisor
export type OpenHypervisor = (uri: string) => Hypervisor

interface Session {
  hypervisor: Hypervisor
  /** Calls still running on this connection; it is closed only when none are. */
  inflight: number
  retired: boolean
  closing?: Promise<void>
}

const OPEN_TIMEOUT_MS = 15_000

export class LibvirtConnection {
  private pending?: Promise<Session>
  private closed = false

  constructor(
    readonly uri: string,
    private readonly openHypervisor: OpenHypervisor = (uri) => new libvirt.Hypervisor({uri}),
    private readonly openTimeoutMs = OPEN_TIMEOUT_MS,
  ) {}

  /** Run `call` on the open connection; a connection libvirtd dropped is replaced and the call retried once. */
  async run<T>(call: (hypervisor: Hypervisor) => Promise<T>): Promise<T> {
    const session = await this.current()
    try {
      return await this.within(session, call)
    } catch (error) {
      if (!isConnectionLost(error)) throw error
      void this.retire(session)
    }

    let fresh: Session
    try {
      fresh = await this.current()
    } catch (error) {
      // The dropped call may have reached libvirt before the connection went.
      if (error instanceof LibvirtBackendError) error.notApplied = undefined
      throw error
    }

    try {
      return await this.within(fresh, call)
    } catch (error) {
      if (!isConnectionLost(error)) throw error
      void this.retire(fresh)
      throw unavailable(this.uri, error)
    }
  }

  async close(): Promise<void> {
    this.closed = true
    const pending = this.pending
    this.pending = undefined
    const session = await pending?.catch(() => undefined)
    if (session) await this.retire(session)
  }

  private async current(): Promise<Session> {
    for (;;) {
      if (this.closed) throw new LibvirtBackendError('failure', `the libvirt connection to ${this.uri} is closed`)
      this.pending ??= this.connect()
      const pending = this.pending
      let session: Session
      try {
        session = await pending
      } catch (error) {
        if (this.pending === pending) this.pending = undefined // the next call tries again
        throw error
      }

      if (!session.retired) return session
      if (this.pending === pending) this.pending = undefined
    }
  }

  private async connect(): Promise<Session> {
    const hypervisor = this.openHypervisor(this.uri)
    const opening = hypervisor.connectOpen()
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.openTimeoutMs / 1000} s`)), this.openTimeoutMs)
    })
    try {
      await Promise.race([opening, timedOut])
    } catch (error) {
      // An open that answers after we gave up must not leak its connection.
      opening.then(() => hypervisor.connectClose()).catch(() => {})
      throw openFailure(this.uri, error)
    } finally {
      clearTimeout(timer)
    }

    return {hypervisor, inflight: 0, retired: false}
  }

  private async within<T>(session: Session, call: (hypervisor: Hypervisor) => Promise<T>): Promise<T> {
    session.inflight++
    try {
      return await call(session.hypervisor)
    } finally {
      session.inflight--
      if (session.retired && session.inflight === 0) void this.closeSession(session)
    }
  }

  /** Stop handing the session out; close it once its last call returns (closing earlier frees what they use). */
  private retire(session: Session): Promise<void> {
    session.retired = true
    return session.inflight === 0 ? this.closeSession(session) : Promise.resolve()
  }

  private closeSession(session: Session): Promise<void> {
    session.closing ??= session.hypervisor.connectClose().catch(() => {})
    return session.closing
  }
}
