#!/usr/bin/env node
// bench/metadata: throughput and latency of the metadata server. A standalone
// server (startMetadataServer, as `ec metadata serve` runs it) in a child
// process; this process publishes 100 instances through the mdserver backend
// (which finds that server on the port and shares its data directory), then
// drives it with autocannon over loopback for BENCH_DURATION seconds (10),
// every request a random one of the 100 instances' meta-data and user-data
// URLs. Prints one JSON line. Target: >= 5,000 req/s with p99 < 10 ms.
// Needs the package built: npx tsc -b plugins/mdserver (or npm run build).
import {spawn} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {createRequire} from 'node:module'
import {availableParallelism, tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {freePort} from './lib.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = join(root, 'plugins', 'mdserver')
const entry = join(pkg, 'dist', 'index.js')
if (!existsSync(entry)) {
  console.error('bench/metadata: build the mdserver plugin first (npx tsc -b plugins/mdserver)')
  process.exit(2)
}

const {MdserverBackend, resolveMetadataSettings, startMetadataServer} = await import(pathToFileURL(entry).href)
const quiet = {debug() {}, info() {}, warn: (m) => console.error(m)}

// ---- child: the server -----------------------------------------------------
if (process.argv[2] === '--serve') {
  const [, , , port, dataDir] = process.argv
  const server = await startMetadataServer({host: '127.0.0.1', port: Number(port)}, dataDir, quiet)
  process.send?.('ready')
  process.on('message', (m) => {
    if (m === 'stop') void server.close().then(() => process.exit(0))
  })
  process.on('disconnect', () => process.exit(0))
} else {
  await main()
}

async function main() {
  const INSTANCES = 100
  const DURATION = Number(process.env.BENCH_DURATION ?? 10)
  const cores = availableParallelism()
  const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 2 * cores)
  const PIPELINING = Number(process.env.BENCH_PIPELINING ?? 1)
  const autocannon = createRequire(join(pkg, 'package.json'))('autocannon')

  const dir = mkdtempSync(join(tmpdir(), 'ec-bench-metadata-'))
  const port = await freePort()
  const settings = resolveMetadataSettings({host: '127.0.0.1', port}, dir)
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', String(port), settings.dataDir], {stdio: ['ignore', 'inherit', 'inherit', 'ipc']})
  let backend
  try {
    await new Promise((resolveReady, reject) => {
      child.once('message', resolveReady)
      child.once('exit', (code) => reject(new Error(`the metadata server exited (${code}) before it was ready`)))
    })

    backend = new MdserverBackend(settings, quiet)
    const paths = []
    for (let i = 0; i < INSTANCES; i++) {
      const {smbios} = await backend.publish({
        instanceId: randomUUID(),
        hostname: `bench-${i}`,
        publicKeys: [`ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${String(i).padStart(40, '0')} bench@${i}`],
        userData: `#cloud-config\nhostname: bench-${i}\nruncmd:\n  - [echo, ${'x'.repeat(200)}]\n`,
        meta: {},
      })
      const seed = new URL(smbios.serial.replace(/^ds=nocloud-net;s=/, '')).pathname
      paths.push(`${seed}meta-data`, `${seed}user-data`)
    }

    // autocannon's own histogram counts whole milliseconds; keep every
    // response time (fractional ms) to report p50/p99 at sub-ms resolution.
    let latencies = []
    const run = (duration) =>
      new Promise((resolveRun, reject) => {
        latencies = []
        const instance = autocannon(
          {
            url: `http://127.0.0.1:${port}`,
            connections: CONNECTIONS,
            pipelining: PIPELINING,
            duration,
            requests: [{setupRequest: (request) => ({...request, path: paths[Math.floor(Math.random() * paths.length)]})}],
          },
          (error, result) => (error ? reject(error) : resolveRun(result)),
        )
        instance.on('response', (_client, _status, _bytes, ms) => latencies.push(ms))
      })
    const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
    const round = (ms) => Math.round(ms * 1000) / 1000

    await run(1) // warm up: JIT, connection set-up
    const result = await run(DURATION)
    const sorted = Float64Array.from(latencies).sort()
    const figures = {
      bench: 'metadata',
      instances: INSTANCES,
      connections: CONNECTIONS,
      pipelining: PIPELINING,
      duration_s: DURATION,
      requests_per_second: Math.round(result.requests.average),
      p99_ms: round(percentile(sorted, 99)),
      p50_ms: round(percentile(sorted, 50)),
      errors: result.errors + result.timeouts + result.non2xx,
      target_rps: 5000,
      target_p99_ms: 10,
    }
    figures.within_target = figures.requests_per_second >= figures.target_rps && figures.p99_ms < figures.target_p99_ms && figures.errors === 0
    console.log(JSON.stringify(figures))
  } finally {
    await backend?.close()
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r))
      child.send('stop')
      await exited
    }

    rmSync(dir, {recursive: true, force: true})
  }
}
