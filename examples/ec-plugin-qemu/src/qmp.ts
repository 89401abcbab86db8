// A small QMP client (QEMU Machine Protocol: line-delimited JSON over a unix
// socket). One connection per conversation: qemu serves one QMP client at a
// time, so every call connects, negotiates capabilities, runs its commands
// and disconnects. Asynchronous events ({"event": …}) are skipped.
import {createConnection, type Socket} from 'node:net'

import {QemuBackendError} from './errors.js'

interface QmpReply {
  return?: unknown
  error?: {class: string; desc: string}
  event?: string
  QMP?: unknown
}

/** qemu answered a command with an error (e.g. {"class": "GenericError"}). */
export class QmpCommandError extends Error {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    desc: string,
  ) {
    super(`QMP ${command}: ${errorClass}: ${desc}`)
    this.name = 'QmpCommandError'
  }
}

export class QmpSession {
  private buffer = ''
  private readonly lines: string[] = []
  private waiter?: () => void
  private closedBy?: Error

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      this.buffer += chunk
      let newline
      while ((newline = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, newline).trim()
        this.buffer = this.buffer.slice(newline + 1)
        if (line) this.lines.push(line)
      }

      this.wake()
    })
    socket.on('error', (error) => {
      this.closedBy ??= error
      this.wake()
    })
    socket.on('close', () => {
      this.closedBy ??= new Error('qemu closed the QMP connection')
      this.wake()
    })
  }

  /** Connect to the socket, read the greeting and leave capabilities negotiation mode. */
  static async open(path: string, timeoutMs: number): Promise<QmpSession> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const connecting = createConnection({path})
      const timer = setTimeout(() => {
        connecting.destroy()
        reject(new QemuBackendError('unavailable', `QMP socket ${path} did not accept a connection within ${timeoutMs} ms`))
      }, timeoutMs)
      connecting.once('connect', () => {
        clearTimeout(timer)
        resolve(connecting)
      })
      connecting.once('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
    })
    const session = new QmpSession(socket)
    try {
      const greeting = await session.next(timeoutMs)
      if (!greeting.QMP) throw new QemuBackendError('failure', `${path} is not a QMP socket (it greeted with ${JSON.stringify(greeting)})`)
      await session.execute('qmp_capabilities', undefined, timeoutMs)
      return session
    } catch (error) {
      session.close()
      throw error
    }
  }

  /** Run one command; resolves with its `return` value. */
  async execute(command: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<unknown> {
    this.socket.write(JSON.stringify(args ? {execute: command, arguments: args} : {execute: command}) + '\n')
    for (;;) {
      const reply = await this.next(timeoutMs)
      if (reply.event) continue
      if (reply.error) throw new QmpCommandError(command, reply.error.class, reply.error.desc)
      if ('return' in reply) return reply.return
    }
  }

  close(): void {
    this.socket.destroy()
  }

  private async next(timeoutMs: number): Promise<QmpReply> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const line = this.lines.shift()
      if (line !== undefined) return JSON.parse(line) as QmpReply
      if (this.closedBy) throw this.closedBy
      const left = deadline - Date.now()
      if (left <= 0) throw new QemuBackendError('unavailable', `qemu did not answer on QMP within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiter = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.waiter = undefined
    }
  }

  private wake(): void {
    this.waiter?.()
  }
}

/** Open a session, run `work`, close it. */
export async function withQmp<T>(path: string, work: (session: QmpSession) => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const session = await QmpSession.open(path, timeoutMs)
  try {
    return await work(session)
  } finally {
    session.close()
  }
}
