// A loopback HTTP server for one file, counting the GETs it answers: how the
// hypervisor suite sees whether concurrent ensureImage calls share a download.
import {createReadStream} from 'node:fs'
import {stat} from 'node:fs/promises'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

export interface ImageServer {
  /** The URL of the file; a query string makes a distinct URL for the same bytes. */
  url(name?: string): string
  /** GET requests answered so far, per path. */
  gets(name?: string): number
  close(): Promise<void>
}

export async function serveImage(file: string): Promise<ImageServer> {
  const {size} = await stat(file)
  const counts = new Map<string, number>()
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname
    if (request.method === 'GET') counts.set(path, (counts.get(path) ?? 0) + 1)
    response.writeHead(200, {'content-type': 'application/octet-stream', 'content-length': size})
    if (request.method === 'HEAD') {
      response.end()
      return
    }

    // Slowly enough that concurrent callers overlap with the download.
    setTimeout(() => createReadStream(file).pipe(response), 200)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  const pathOf = (name = 'image') => `/${encodeURIComponent(name)}.img`
  return {
    url: (name) => `http://127.0.0.1:${port}${pathOf(name)}`,
    gets: (name) => counts.get(pathOf(name)) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
