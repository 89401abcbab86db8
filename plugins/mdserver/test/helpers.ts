// Shared by this plugin's tests: scratch directories, free loopback ports,
// a logger that remembers, and raw HTTP requests (paths sent exactly as
// written, so "..", "%2e%2e" and friends reach the server unnormalised).
import {spawn, type ChildProcess} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import {request as httpRequest} from 'node:http'
import {connect, createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {InstanceMetadata, Logger} from '@ec/plugin-api'

import {type MetadataSettings, resolveMetadataSettings} from '../src/config.js'

export async function scratchDir(): Promise<{path: string; remove: () => Promise<void>}> {
  const path = await mkdtemp(join(tmpdir(), 'ec-mdserver-'))
  return {path, remove: () => rm(path, {recursive: true, force: true})}
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({host: '127.0.0.1', port: 0}, resolve)
  })
  const {port} = server.address() as {port: number}
  await new Promise((resolve) => server.close(resolve))
  return port
}

export interface RecordingLogger extends Logger {
  lines: string[]
}

export function recordingLogger(): RecordingLogger {
  const lines: string[] = []
  return {
    lines,
    debug: (m) => lines.push(`debug ${m}`),
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
  }
}

export async function settingsFor(stateDir: string, overrides: Record<string, unknown> = {}): Promise<MetadataSettings> {
  return resolveMetadataSettings({host: '127.0.0.1', port: await freePort(), ...overrides}, stateDir)
}

export function instance(overrides: Partial<InstanceMetadata> = {}): InstanceMetadata {
  return {
    instanceId: randomUUID(),
    hostname: 'web-1',
    publicKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ5i0r8S6hZbGm0rN6bX3pQx7v3hTqJ0Q3Zb1kz5oQ7X alice@laptop'],
    meta: {},
    ...overrides,
  }
}

export interface RawResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
  text: string
}

/** One request with the path exactly as given. */
export function raw(
  port: number,
  path: string,
  options: {method?: string; headers?: Record<string, string>; body?: string | Buffer; host?: string; localAddress?: string} = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {host: options.host ?? '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers, localAddress: options.localAddress, agent: false},
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const body = Buffer.concat(chunks)
          resolve({status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8')})
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    if (options.body !== undefined) req.write(options.body)
    req.end()
  })
}

/** Bytes straight onto a socket; resolves with whatever comes back before the server closes or 2 s pass. */
export function rawSocket(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({host: '127.0.0.1', port})
    let answer = ''
    const timer = setTimeout(() => {
      socket.destroy()
      resolve(answer)
    }, 2000)
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => {
      answer += d
    })
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(answer)
    })
    socket.on('error', (error) => {
      clearTimeout(timer)
      if (answer) resolve(answer)
      else reject(error)
    })
    socket.write(bytes)
  })
}

/** The path part of a NoCloud seed: "ds=nocloud-net;s=http://10.0.2.2:8775/<token>/" → "/<token>/". */
export function seedPath(serial: string): string {
  const match = /^ds=nocloud-net;s=https?:\/\/[^/]+(\/[A-Za-z0-9_-]+\/)$/.exec(serial)
  if (!match) throw new Error(`not a NoCloud seed serial: ${serial}`)
  return match[1]
}

export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`not true within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const here = dirname(fileURLToPath(import.meta.url))

/** A metadata server in a child process (fixtures/serve.ts), as `ec metadata serve` would run it. */
export async function childServer(port: number, dataDir: string): Promise<{child: ChildProcess; stop: () => Promise<void>; output: () => string}> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'fixtures', 'serve.ts'), String(port), dataDir], {stdio: ['ignore', 'pipe', 'pipe']})
  let output = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    output += d
  })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    output += d
  })
  await eventually(() => (output.includes('READY') ? true : child.exitCode === null ? undefined : Promise.reject(new Error(`serve.ts exited: ${output}`))), 20_000)
  return {
    child,
    output: () => output,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}
