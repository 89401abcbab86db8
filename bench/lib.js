// Small pieces the benchmarks share.
import {createServer} from 'node:net'

/** A port the kernel says is free on loopback right now. */
export async function freePort() {
  const server = createServer()
  await new Promise((resolve) => server.listen({host: '127.0.0.1', port: 0}, resolve))
  const {port} = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export const round = (n, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits

/** Run `work(i)` for i in [0, count) with at most `limit` at once. */
export async function pool(count, limit, work) {
  let next = 0
  await Promise.all(
    Array.from({length: Math.min(limit, count)}, async () => {
      while (next < count) await work(next++)
    }),
  )
}
