#!/usr/bin/env node
// bench/schedule [--database sqlite|mariadb] [--hosts N]: instances per second
// from create to ACTIVE across N agents (default 10; each on its own libvirt
// test driver, up to 25 agents a process: bench/agent-group.js) for 500
// instances (BENCH_INSTANCES), beside the same number of bare Placement
// round-trips (GET /allocation_candidates with the query ec's claim sends +
// PUT /allocations/{consumer}) made directly, at the same concurrency, against
// the same Placement and database. Also prints ec's etcd writes per instance.
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
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {Agent} from 'node:https'
import {availableParallelism, tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {parseArgs} from 'node:util'
import {fileURLToPath} from 'node:url'
import axios from 'axios'

import {benchSchedulerSettings, freePort, pool} from './lib.js'

const {values: options} = parseArgs({options: {database: {type: 'string', default: 'sqlite'}, hosts: {type: 'string'}}})
if (!['sqlite', 'mariadb'].includes(options.database)) throw new Error('--database is sqlite or mariadb')
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 500)
const AGENTS = Number(options.hosts ?? process.env.BENCH_AGENTS ?? 10)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10)
const AGENTS_PER_PROCESS = 25
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const bin = join(root, 'bin', 'run.js')

const {createInstance} = await import(join(root, 'dist/scheduling/create.js'))
const {InstanceStore} = await import(join(root, 'dist/instances/store.js'))
const {EtcdTransport} = await import(join(root, 'plugins/etcd/dist/transport.js'))
const {PlacementScheduler} = await import(join(root, 'plugins/placement/dist/scheduler.js'))
const {resourceRequestOf} = await import(join(root, 'dist/scheduling/request.js'))

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

/** CPU seconds used so far by this run's processes, by kind (from /proc: user + system). */
function cpuByProcess() {
  const own = process.cpuUsage()
  const kinds = {creator: (own.user + own.system) / 1e6, agents: 0, etcd: 0, placement: 0, mariadb: 0}
  const agentPids = new Set(agents.map((child) => child.pid))
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    let cmdline
    let stat
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    } catch {
      continue // gone meanwhile
    }

    const kind = agentPids.has(Number(pid)) ? 'agents' : !cmdline.includes(dir) ? undefined : /^etcd\0/.test(cmdline) ? 'etcd' : /gunicorn/.test(cmdline) ? 'placement' : /mariadbd/.test(cmdline) ? 'mariadb' : undefined
    if (!kind) continue
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // after "pid (comm) "
    kinds[kind] += (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS // utime, stime
  }

  return kinds
}

function cpuSince(before) {
  const now = cpuByProcess()
  return Object.fromEntries(Object.keys(now).map((kind) => [kind, now[kind] - before[kind]]))
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], {encoding: 'utf8'}).stdout.trim() || 100)
const perInstance = (cpu) => Object.fromEntries(Object.entries(cpu).map(([kind, seconds]) => [kind, Math.round((seconds * 1000) / INSTANCES)]))
try {
  const up = ec(['up'])
  if (up.status !== 0) throw new Error(`ec up failed: ${up.stderr}`)
  const bundle = JSON.parse(readFileSync(credentials, 'utf8'))
  const placementUrl = bundle.placement.urls[0]
  // The baseline's client: the same HTTP stack and certificate as ec's Placement client.
  const placement = axios.create({
    baseURL: placementUrl,
    httpsAgent: new Agent({ca: bundle.ca, cert: bundle.cert, key: bundle.key}),
    validateStatus: () => true,
  })
  transport = new EtcdTransport({endpoints: bundle.etcd.endpoints, prefix: '/ec', timeoutMs: 10_000, tls: {credentials}})
  store = new InstanceStore(transport)
  scheduler = new PlacementScheduler(benchSchedulerSettings(placementUrl, credentials, 30_000))
  // Agents in groups of up to 25 per process (bench/agent-group.js: the agent `ec compute start` runs,
  // in-process): hundreds of `ec compute start` processes would not fit in memory.
  const computeSettings = JSON.stringify({workers: 16, inventory: {VCPU: 10000, MEMORY_MB: 1000000, DISK_GB: 100000}, reserved: {MEMORY_MB: 0}})
  for (let first = 0; first < AGENTS; first += AGENTS_PER_PROCESS) {
    const names = Array.from({length: Math.min(AGENTS_PER_PROCESS, AGENTS - first)}, (_, i) => `bench-${first + i}`)
    const child = spawn(process.execPath, [join(root, 'bench', 'agent-group.js'), join(dir, 'agents'), ...names], {
      env: {...env, EC_BENCH_CREDENTIALS: credentials, EC_BENCH_COMPUTE: computeSettings},
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    agents.push(child)
    await new Promise((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (chunk) => {
        out += chunk
        if ((out.match(/is schedulable/g) ?? []).length === names.length) resolve()
      })
      child.once('exit', (code) => reject(new Error(`agents ${names[0]}… exited ${code}: ${out}`)))
    })
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
  const reasons = new Map()
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
        else {
          failed++
          const reason = `${record.error?.step ?? '-'}: ${record.error?.reason ?? '?'}`.slice(0, 200)
          reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
        }
        if (active + failed === INSTANCES) allDone()
      }
    },
  })
  const ecCpu = cpuByProcess()
  const ecStart = process.hrtime.bigint()
  await pool(INSTANCES, CONCURRENCY, (i) => createInstance(`bench-${i}`, spec, {store, scheduler, policy: 'spread', pendingTimeoutSeconds: 600}))
  await done
  const ecSeconds = Number(process.hrtime.bigint() - ecStart) / 1e9
  const ecCpuSeconds = cpuSince(ecCpu)
  await watch.close()
  // Every write to etcd (records, hand-offs, inventories) is one revision, sent to each watcher of its key.
  const ecRevisions = Number((await transport.list('instances/')).revision) - Number(revision)
  if (failed > 0) throw new Error(`${failed} instances ended in ERROR: ${JSON.stringify(Object.fromEntries(reasons))}`)

  // Baseline: the Placement round-trips a create needs, made directly.
  const headers = {'X-Auth-Token': 'admin', 'OpenStack-API-Version': 'placement 1.39', 'Content-Type': 'application/json'}
  // The very query ec's claim sends (root_required on a Placement that has it, ec's candidate limit).
  const query = await scheduler.candidateParams(resourceRequestOf(spec))
  const consumers = []
  const baseCpu = cpuByProcess()
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
  const baseCpuSeconds = cpuSince(baseCpu)

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
    // Where the time goes: CPU seconds per instance (ms) of each process kind, in each phase.
    ec_cpu_ms_per_instance: perInstance(ecCpuSeconds),
    ec_etcd_writes_per_instance: round(ecRevisions / INSTANCES),
    baseline_cpu_ms_per_instance: perInstance(baseCpuSeconds),
    target_ratio: 1.3,
  }
  figures.within_target = figures.ratio <= figures.target_ratio
  console.log(JSON.stringify(figures))
  await pool(consumers.length, CONCURRENCY, (i) => placement.delete(`/allocations/${consumers[i]}`, {headers}))
} finally {
  for (const child of agents) child.kill('SIGKILL')
  await Promise.all(agents.map((child) => (child.exitCode === null && child.signalCode === null ? new Promise((r) => child.once('exit', r)) : undefined)))
  await transport?.close()
  await scheduler?.close()
  ec(['down', '--purge'])
  rmSync(dir, {recursive: true, force: true})
}
