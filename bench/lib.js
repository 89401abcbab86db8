// Small pieces the benchmarks share.
import {existsSync, readFileSync} from 'node:fs'
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

export const seconds = (start) => Number(process.hrtime.bigint() - start) / 1e9

/** Seconds from `start` (hrtime) until `file` holds `line` (a string, or a RegExp it matches), polled every `intervalMs`. */
export async function untilLine(file, line, start, timeoutMs, intervalMs = 10) {
  const holds = typeof line === 'string' ? (text) => text.includes(line) : (text) => line.test(text)
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (existsSync(file) && holds(readFileSync(file, 'utf8'))) return seconds(start)
    if (Date.now() > deadline) throw new Error(`no ${line} in ${file} within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

/** The Placement scheduler settings the benches' creators and agents share (admin token, spread). */
export function benchSchedulerSettings(url, credentials, timeoutMs) {
  return {url, token: 'admin', projectId: 'ec', userId: 'ec', policy: 'spread', candidateLimit: 20, claimRounds: 5, timeoutMs, tls: {credentials}}
}
