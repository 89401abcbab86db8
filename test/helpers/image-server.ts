// Serves disk images over HTTP on loopback. A held path sends its first bytes
// and then waits until the test releases it, so a build can be caught in its
// image step on purpose rather than by timing.
import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {join} from 'node:path'

export interface ImageServer {
  url(path: string): string
  /** Hold downloads of `path` after their first bytes until release(path). */
  hold(path: string): void
  release(path: string): void
  /** How many times `path` was requested. */
  requests(path: string): number
  close(): Promise<void>
}

/** A small, valid qcow2 image made with qemu-img. */
export function makeQcow2(dir: string, name = 'base.qcow2', size = '64M'): string {
  const path = join(dir, name)
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, size])
  return path
}

export async function startImageServer(files: Record<string, string>): Promise<ImageServer> {
  const held = new Map<string, Array<() => void>>()
  const counts = new Map<string, number>()
  const server: Server = createServer((request, response) => {
    const path = request.url ?? '/'
    counts.set(path, (counts.get(path) ?? 0) + 1)
    const file = files[path]
    if (!file) {
      response.writeHead(404).end('not found')
      return
    }

    const body = readFileSync(file)
    response.writeHead(200, {'Content-Length': body.length, 'Content-Type': 'application/octet-stream'})
    const waiters = held.get(path)
    if (!waiters) {
      response.end(body)
      return
    }

    response.write(body.subarray(0, 1024))
    waiters.push(() => response.end(body.subarray(1024)))
  })
  await new Promise<void>((resolve) => server.listen({host: '127.0.0.1', port: 0}, resolve))
  const {port} = server.address() as {port: number}
  const release = (path: string) => {
    const waiters = held.get(path) ?? []
    held.delete(path)
    for (const finish of waiters) finish()
  }

  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    hold: (path) => void held.set(path, held.get(path) ?? []),
    release,
    requests: (path) => counts.get(path) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const path of [...held.keys()]) release(path)
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
