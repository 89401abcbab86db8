#!/usr/bin/env node
// bench/schedule [--database sqlite|mariadb] [--hosts N]: instances per second
// from create to ACTIVE across N agents (default 10; libvirt's test:///default
// driver) for 500 instances, beside the same number of bare Placement
// round-trips (GET /allocation_candidates + PUT /allocations/{consumer}) made
// directly, at the same concurrency, against the same Placement and database.
// SQLite runs one gunicorn worker, MariaDB one per core. Prints one JSON line.
// Targets (issues 3 and 9): ec's whole path costs at most 1.3x the bare
// round-trips (ratio = ec seconds / baseline seconds); with MariaDB the bare
// round-trips reach 1.5x SQLite's (run both and compare baseline figures).
//
// ec's path is driven in-process through the same code `ec instance create`
// runs (src/scheduling/create.ts): spawning 500 CLI processes would measure
// Node start-up, which bench/startup reports on its own.
import {spawn, spawnSync} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {Agent} from 'node:https'
import {availableParallelism, tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {parseArgs} from 'node:util'
import {fileURLToPath} from 'node:url'
import axios from 'axios'

import {freePort, pool} from './lib.js'

const {values: options} = parseArgs({options: {database: {type: 'string', default: 'sqlite'}, hosts: {type: 'string'}}})
if (!['sqlite', 'mariadb'].includes(options.database)) throw new Error('--database is sqlite or mariadb')
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 500)
const AGENTS = Number(options.hosts ?? process.env.BENCH_AGENTS ?? 10)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10)
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const bin = join(root, 'bin', 'run.js')

const {createInstance} = await import(join(root, 'dist/scheduling/create.js'))
const {InstanceStore} = await import(join(root, 'dist/instances/store.js'))
const {EtcdTransport} = await import(join(root, 'plugins/etcd/dist/transport.js'))
const {PlacementScheduler} = await import(join(root, 'plugins/placement/dist/scheduler.js'))

const dir = mkdtempSync(join(tmpdir(), 'ec-bench-schedule-'))
const [clientPort, peerPort, placementPort, mariadbPort] = [await freePort(), await freePort(), await freePort(), await freePort()]
const image = join(dir, 'base.qcow2')
spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '64M'])
const configFile = join(dir, 'ec.config.yaml')
writeFileSync(
  configFile,
  [
    `stateDir: ${join(dir, 'state')}`,
    `controlPlane: {etcd: {clientPort: ${clientPort}, peerPort: ${peerPort}}, placement: {port: ${placementPort}, database: ${options.database}}, mariadb: {port: ${mariadbPort}}, startTimeoutSeconds: 300}`,
    'backends: {metadata: none}',
    'libvirt: {uri: "test:///default"}',
    'compute:',
    '  workers: 16',
    '  inventory: {VCPU: 10000, MEMORY_MB: 1000000, DISK_GB: 100000}',
    '  reserved: {MEMORY_MB: 0}',
  ].join('\n') + '\n',
)
const env = {PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, 'c'), XDG_DATA_HOME: join(dir, 'd'), EC_CONFIG: configFile}
const ec = (args) => spawnSync(process.execPath, [bin, ...args], {env, cwd: dir, encoding: 'utf8'})
const agents = []
// ec up serves mutual TLS: in-process clients present the local admin's bundle, as the CLI does.
const credentials = join(dir, 'state', 'credentials.json')
let transport
let scheduler
let store
try {
  const up = ec(['up'])
  if (up.status !== 0) throw new Error(`ec up failed: ${up.stderr}`)
  const bundle = JSON.parse(readFileSync(credentials, 'utf8'))
  const placementUrl = bundle.placement.url
  // The baseline's client: the same HTTP stack and certificate as ec's Placement client.
  const placement = axios.create({
    baseURL: placementUrl,
    httpsAgent: new Agent({ca: bundle.ca, cert: bundle.cert, key: bundle.key}),
    validateStatus: () => true,
  })
  transport = new EtcdTransport({endpoints: bundle.etcd.endpoints, prefix: '/ec', timeoutMs: 10_000, tls: {credentials}})
  store = new InstanceStore(transport)
  scheduler = new PlacementScheduler({
    url: placementUrl,
    token: 'admin',
    projectId: 'ec',
    userId: 'ec',
    policy: 'spread',
    candidateLimit: 20,
    claimRounds: 5,
    timeoutMs: 30_000,
    tls: {credentials},
  })
  for (let i = 0; i < AGENTS; i++) {
    const child = spawn(process.execPath, [bin, 'compute', 'start', '--name', `bench-${i}`, '--state-dir', join(dir, `agent-${i}`)], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    await new Promise((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (chunk) => {
        out += chunk
        if (out.includes('is schedulable')) resolve()
      })
      child.once('exit', (code) => reject(new Error(`agent ${i} exited ${code}: ${out}`)))
    })
    agents.push(child)
  }

  const spec = {
    vcpus: 1,
    memoryMb: 64,
    diskGb: 1,
    resources: {VCPU: 1, MEMORY_MB: 64, DISK_GB: 1},
    requiredTraits: [],
    forbiddenTraits: [],
    memberOf: [],
    image: {ref: image, path: image},
  }

  // ec: create → ACTIVE for every instance, counted from etcd's own events.
  const {revision} = await transport.list('instances/')
  let active = 0
  let failed = 0
  let allDone
  const done = new Promise((resolve) => (allDone = resolve))
  const seen = new Set()
  const watch = await transport.watch('instances/', {
    afterRevision: revision,
    onEvents(events) {
      for (const event of events) {
        if (event.type !== 'put') continue
        // Only settled records matter: skip parsing the many progress updates (measurement, not ec).
        if (!/"state":"(ACTIVE|ERROR)"/.test(event.kv.value)) continue
        const record = JSON.parse(event.kv.value)
        if (seen.has(record.id) || (record.state !== 'ACTIVE' && record.state !== 'ERROR')) continue
        seen.add(record.id)
        if (record.state === 'ACTIVE') active++
        else failed++
        if (active + failed === INSTANCES) allDone()
      }
    },
  })
  const ecStart = process.hrtime.bigint()
  await pool(INSTANCES, CONCURRENCY, (i) => createInstance(`bench-${i}`, spec, {store, scheduler, policy: 'spread', pendingTimeoutSeconds: 600}))
  await done
  const ecSeconds = Number(process.hrtime.bigint() - ecStart) / 1e9
  await watch.close()
  if (failed > 0) throw new Error(`${failed} instances ended in ERROR`)

  // Baseline: the Placement round-trips a create needs, made directly.
  const headers = {'X-Auth-Token': 'admin', 'OpenStack-API-Version': 'placement 1.39', 'Content-Type': 'application/json'}
  const query = new URLSearchParams({resources: 'VCPU:1,MEMORY_MB:64,DISK_GB:1', limit: '20', required: 'CUSTOM_EC_HOST,!COMPUTE_STATUS_DISABLED'})
  const consumers = []
  const baseStart = process.hrtime.bigint()
  await pool(INSTANCES, CONCURRENCY, async () => {
    const candidates = (await placement.get(`/allocation_candidates?${query}`, {headers})).data
    const [first] = candidates.allocation_requests
    const consumer = randomUUID()
    const body = {...first, project_id: 'ec', user_id: 'ec', consumer_generation: null, consumer_type: 'INSTANCE'}
    const put = await placement.put(`/allocations/${consumer}`, body, {headers})
    if (put.status !== 204) throw new Error(`baseline PUT: ${put.status} ${JSON.stringify(put.data)}`)
    consumers.push(consumer)
  })
  const baseSeconds = Number(process.hrtime.bigint() - baseStart) / 1e9

  const round = (n) => Math.round(n * 100) / 100
  const figures = {
    bench: 'schedule',
    instances: INSTANCES,
    agents: AGENTS,
    database: options.database,
    placement_workers: options.database === 'sqlite' ? 1 : availableParallelism(),
    concurrency: CONCURRENCY,
    ec_seconds: round(ecSeconds),
    ec_instances_per_second: round(INSTANCES / ecSeconds),
    baseline_seconds: round(baseSeconds),
    baseline_round_trips_per_second: round(INSTANCES / baseSeconds),
    ratio: round(ecSeconds / baseSeconds),
    target_ratio: 1.3,
  }
  figures.within_target = figures.ratio <= figures.target_ratio
  console.log(JSON.stringify(figures))
  await pool(consumers.length, CONCURRENCY, (i) => placement.delete(`/allocations/${consumers[i]}`, {headers}))
} finally {
  for (const child of agents) child.kill('SIGKILL')
  await transport?.close()
  await scheduler?.close()
  ec(['down', '--purge'])
  rmSync(dir, {recursive: true, force: true})
}
