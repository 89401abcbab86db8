#!/usr/bin/env node
// bench/placement [--hosts N]: Placement's model at
// scale. Loads N ec hosts (default 2,000) into a local Placement started by
// `ec up`: half flat, half with two NUMA children; a fifth of the NUMA hosts
// diskless, in aggregates of 50 hosts with two shared disks each (10,000 and
// 100,000 GB, made by ec storage's own code); every second host has
// HW_CPU_X86_AVX2. Then, each sample interleaved with its baseline:
//   - ec's candidate query for a NUMA-pinned request with a required trait
//     (--vcpus 2 --memory 2048 --disk 20 --trait HW_CPU_X86_AVX2, built by the
//     code `ec instance create` runs, then GET /allocation_candidates and ec's
//     ranking), beside the same query string sent bare (same HTTP stack);
//   - the same for a RAM-only query, `resources=MEMORY_MB:2000`;
//   - each median beside the figure published for the same graph on Neo4j
//     (169 ms at 2,000 nodes);
//   - claims per second with 8 concurrent creators (ec's claim: query, rank,
//     PUT /allocations) beside bare GET + PUT round-trips at the same concurrency.
// Target: ec ≤ 1.1× bare for each query. Prints one JSON line.
import {spawnSync} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {Agent} from 'node:https'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {parseArgs} from 'node:util'
import {fileURLToPath} from 'node:url'
import axios from 'axios'

import {freePort, median, pool, round} from './lib.js'

const {values: options} = parseArgs({options: {hosts: {type: 'string'}}})
const HOSTS = Number(options.hosts ?? process.env.BENCH_HOSTS ?? 2000)
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 40)
const CLAIMS = Number(process.env.BENCH_CLAIMS ?? 200)
const CREATORS = 8
const NEO4J_MS = 169
/** Python: providers (JSON on stdin) as the rows Placement's API would write for them. */
const SQL_LOADER = String.raw`
import json, sqlite3, sys, datetime
providers = json.load(sys.stdin)
db = sqlite3.connect(sys.argv[1], timeout=60)
now = datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M:%S')
rc = {name: id for id, name in db.execute('SELECT id, name FROM resource_classes')}
traits = {name: id for id, name in db.execute('SELECT id, name FROM traits')}
aggs = {}
ids = {}
with db:
    for p in providers:
        parent = ids.get(p.get('parent'))
        cur = db.execute('INSERT INTO resource_providers (uuid, name, generation, parent_provider_id, created_at) VALUES (?, ?, 1, ?, ?)', (p['uuid'], p['name'], parent, now))
        ids[p['uuid']] = cur.lastrowid
        root = ids[p['parent']] if p.get('parent') else cur.lastrowid
        db.execute('UPDATE resource_providers SET root_provider_id = ? WHERE id = ?', (root, cur.lastrowid))
        for name, total in p['amounts'].items():
            db.execute('INSERT INTO inventories (resource_provider_id, resource_class_id, total, reserved, min_unit, max_unit, step_size, allocation_ratio, created_at) VALUES (?, ?, ?, 0, 1, 2147483647, 1, 1.0, ?)', (cur.lastrowid, rc[name], total, now))
        for name in p['traits']:
            db.execute('INSERT INTO resource_provider_traits (trait_id, resource_provider_id, created_at) VALUES (?, ?, ?)', (traits[name], cur.lastrowid, now))
        for uuid in p.get('aggregates', []):
            if uuid not in aggs:
                row = db.execute('SELECT id FROM placement_aggregates WHERE uuid = ?', (uuid,)).fetchone()
                aggs[uuid] = row[0] if row else db.execute('INSERT INTO placement_aggregates (uuid, created_at) VALUES (?, ?)', (uuid, now)).lastrowid
            db.execute('INSERT INTO resource_provider_aggregates (resource_provider_id, aggregate_id, created_at) VALUES (?, ?, ?)', (cur.lastrowid, aggs[uuid], now))
`
const AGGREGATE_SIZE = 50
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const bin = join(root, 'bin', 'run.js')

const {PlacementScheduler} = await import(join(root, 'plugins/placement/dist/scheduler.js'))
const {rankCandidates} = await import(join(root, 'plugins/placement/dist/candidates.js'))
const {buildSpec, parseRawRequest, resourceRequestOf} = await import(join(root, 'dist/scheduling/request.js'))

const dir = mkdtempSync(join(tmpdir(), 'ec-bench-placement-'))
const [clientPort, peerPort, placementPort] = [await freePort(), await freePort(), await freePort()]
const image = join(dir, 'base.qcow2')
writeFileSync(image, '')
const configFile = join(dir, 'ec.config.yaml')
writeFileSync(
  configFile,
  [
    `stateDir: ${join(dir, 'state')}`,
    `controlPlane: {etcd: {clientPort: ${clientPort}, peerPort: ${peerPort}}, placement: {port: ${placementPort}}, startTimeoutSeconds: 300}`,
  ].join('\n') + '\n',
)
const env = {PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, 'c'), XDG_DATA_HOME: join(dir, 'd'), EC_CONFIG: configFile}
const ec = (args) => spawnSync(process.execPath, [bin, ...args], {env, cwd: dir, encoding: 'utf8'})
const credentials = join(dir, 'state', 'credentials.json')
const headers = {'X-Auth-Token': 'admin', 'OpenStack-API-Version': 'placement 1.39', 'Content-Type': 'application/json'}
let scheduler
try {
  const up = ec(['up'])
  if (up.status !== 0) throw new Error(`ec up failed: ${up.stderr}`)
  const bundle = JSON.parse(readFileSync(credentials, 'utf8'))
  const placementUrl = bundle.placement.urls[0]
  // The baseline's client: the same HTTP stack and certificate as ec's Placement client.
  const placement = axios.create({baseURL: placementUrl, httpsAgent: new Agent({ca: bundle.ca, cert: bundle.cert, key: bundle.key}), validateStatus: () => true})
  const call = async (method, url, data) => {
    const response = await placement.request({method, url, data, headers})
    if (response.status >= 400) throw new Error(`${method} ${url}: ${response.status} ${JSON.stringify(response.data)}`)
    return response.data
  }

  scheduler = new PlacementScheduler({
    url: placementUrl, token: 'admin', projectId: 'ec', userId: 'ec', policy: 'spread',
    candidateLimit: 20, claimRounds: 5, timeoutMs: 60_000, tls: {credentials},
  })

  // Load. A few hosts and every shared disk go through the API (ec storage's own code for the disks);
  // the rest are the same rows written straight into Placement's SQLite database in one transaction
  // (thousands of API round trips would take most of an hour on a loaded 2-core machine). The
  // rows are checked against what the API reports for them before anything is measured.
  const loadStart = process.hrtime.bigint()
  const numaHosts = Math.floor(HOSTS / 2)
  const disklessHosts = Math.floor(numaHosts / 5)
  const aggregates = Array.from({length: Math.ceil(disklessHosts / AGGREGATE_SIZE)}, () => randomUUID())
  const inventory = (amounts) => Object.fromEntries(Object.entries(amounts).map(([rc, total]) => [rc, {total, reserved: 0, allocation_ratio: 1}]))
  const viaApi = async ({uuid, name, parent, amounts, traits, aggregates: aggs = []}) => {
    let generation = (await call('POST', '/resource_providers', {uuid, name, ...(parent ? {parent_provider_uuid: parent} : {})})).generation
    if (Object.keys(amounts).length > 0) generation = (await call('PUT', `/resource_providers/${uuid}/inventories`, {resource_provider_generation: generation, inventories: inventory(amounts)})).resource_provider_generation
    generation = (await call('PUT', `/resource_providers/${uuid}/traits`, {resource_provider_generation: generation, traits})).resource_provider_generation
    if (aggs.length > 0) await call('PUT', `/resource_providers/${uuid}/aggregates`, {resource_provider_generation: generation, aggregates: aggs})
  }

  await call('PUT', '/traits/CUSTOM_EC_HOST')
  const providers = []
  for (let i = 0; i < HOSTS; i++) {
    const uuid = randomUUID()
    const traits = ['CUSTOM_EC_HOST', 'COMPUTE_ARCH_X86_64', 'HW_CPU_X86_SSE2', ...(i % 2 === 0 ? ['HW_CPU_X86_AVX2'] : [])]
    if (i >= numaHosts) {
      providers.push({uuid, name: `flat-${i}`, amounts: {VCPU: 32, MEMORY_MB: 65_536, DISK_GB: 2000}, traits})
      continue
    }

    const diskless = i < disklessHosts
    providers.push({uuid, name: `numa-${i}`, amounts: diskless ? {} : {DISK_GB: 2000}, traits, aggregates: diskless ? [aggregates[Math.floor(i / AGGREGATE_SIZE)]] : []})
    for (const node of [0, 1]) providers.push({uuid: randomUUID(), name: `numa-${i}_NUMA${node}`, parent: uuid, amounts: {VCPU: 16, MEMORY_MB: 32_768}, traits: ['HW_NUMA_ROOT']})
  }

  // The first hosts of each kind (a diskless NUMA host, a NUMA host with disk, a flat host) through the API.
  const apiNames = new Set(['numa-0', 'numa-0_NUMA0', 'numa-0_NUMA1', `numa-${numaHosts - 1}`, `numa-${numaHosts - 1}_NUMA0`, `numa-${numaHosts - 1}_NUMA1`, `flat-${HOSTS - 1}`])
  for (const p of providers.filter((p) => apiNames.has(p.name))) await viaApi(p)
  for (const [index, aggregate] of aggregates.entries()) {
    for (const gb of [10_000, 100_000]) await scheduler.addStorage({id: randomUUID(), name: `shared-${index}-${gb}`, diskGb: gb, aggregates: [aggregate]})
  }

  const loaded = spawnSync('python3', ['-c', SQL_LOADER, join(dir, 'state', 'placement', 'placement.sqlite')], {
    input: JSON.stringify(providers.filter((p) => !apiNames.has(p.name))),
    encoding: 'utf8',
  })
  if (loaded.status !== 0) throw new Error(`loading Placement's database failed: ${loaded.stderr}`)
  const listed = (await call('GET', '/resource_providers')).resource_providers
  if (listed.length !== providers.length + aggregates.length * 2) throw new Error(`Placement lists ${listed.length} providers, expected ${providers.length + aggregates.length * 2}`)
  for (const p of [providers[3], providers[3 * disklessHosts + 1], providers.at(-2)]) {
    const [inv, traits, aggs] = await Promise.all(['inventories', 'traits', 'aggregates'].map((what) => call('GET', `/resource_providers/${p.uuid}/${what}`)))
    const totals = (amounts) => Object.entries(amounts).sort(([a], [b]) => a.localeCompare(b))
    const got = JSON.stringify([totals(Object.fromEntries(Object.entries(inv.inventories).map(([rc, i]) => [rc, i.total]))), traits.traits.sort(), aggs.aggregates])
    const want = JSON.stringify([totals(p.amounts), [...p.traits].sort(), p.aggregates ?? []])
    if (got !== want) throw new Error(`provider ${p.name} reads ${got} through the API, expected ${want}`)
  }

  const loadSeconds = Number(process.hrtime.bigint() - loadStart) / 1e9

  // The requests, built as `ec instance create` builds them.
  const pinned = resourceRequestOf(buildSpec({vcpus: 2, memoryMb: 2048, diskGb: 20, traits: ['HW_CPU_X86_AVX2'], image}, {flavors: {}, images: {}}, dir))
  const ramOnly = parseRawRequest('resources=MEMORY_MB:2000')

  const ms = (start) => Number(process.hrtime.bigint() - start) / 1e6
  const p90 = (values) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.ceil(values.length * 0.9) - 1)]
  async function measure(request) {
    const query = (await scheduler.candidateParams(request)).toString()
    const ecTimes = []
    const bareTimes = []
    let candidates = 0
    for (let i = 0; i < SAMPLES + 3; i++) {
      // ec: the query built from the request, sent, and ranked: a claim's path up to its PUT.
      let start = process.hrtime.bigint()
      const params = await scheduler.candidateParams(request)
      const found = await scheduler.client.allocationCandidates(params)
      candidates = rankCandidates(found, 'spread').length
      const ecMs = ms(start)
      start = process.hrtime.bigint()
      await call('GET', `/allocation_candidates?${query}`)
      const bareMs = ms(start)
      if (i >= 3) {
        ecTimes.push(ecMs)
        bareTimes.push(bareMs)
      }
    }

    const ecMedian = median(ecTimes)
    const bareMedian = median(bareTimes)
    return {
      query,
      candidates,
      ec_median_ms: round(ecMedian),
      ec_p90_ms: round(p90(ecTimes)),
      bare_median_ms: round(bareMedian),
      bare_p90_ms: round(p90(bareTimes)),
      ratio: round(ecMedian / bareMedian, 2),
      within_target: ecMedian / bareMedian <= 1.1,
      neo4j_ms: NEO4J_MS,
      ec_vs_neo4j: round(ecMedian / NEO4J_MS, 2),
    }
  }

  const numaPinned = await measure(pinned)
  const ramOnlyFigures = await measure(ramOnly)

  // Claims: 8 creators at once, ec's claim against bare GET + PUT of the first candidate.
  const consumers = []
  const ecStart = process.hrtime.bigint()
  let retries = 0
  await pool(CLAIMS, CREATORS, async () => {
    const consumer = randomUUID()
    let tries = 0
    await scheduler.claim(consumer, pinned, {policy: 'spread', onStep: (step) => void (step === 'claim' && tries++)})
    retries += tries - 1
    consumers.push(consumer)
  })
  const ecSeconds = Number(process.hrtime.bigint() - ecStart) / 1e9
  const query = (await scheduler.candidateParams(pinned)).toString()
  const bareStart = process.hrtime.bigint()
  let bareConflicts = 0
  await pool(CLAIMS, CREATORS, async () => {
    const consumer = randomUUID()
    for (;;) {
      const {allocation_requests: [first]} = await call('GET', `/allocation_candidates?${query}`)
      const response = await placement.put(`/allocations/${consumer}`, {...first, project_id: 'ec', user_id: 'ec', consumer_generation: null, consumer_type: 'INSTANCE'}, {headers})
      if (response.status === 204) break
      if (response.status !== 409) throw new Error(`baseline PUT: ${response.status} ${JSON.stringify(response.data)}`)
      bareConflicts++
    }

    consumers.push(consumer)
  })
  const bareSeconds = Number(process.hrtime.bigint() - bareStart) / 1e9
  await pool(consumers.length, CREATORS, (i) => placement.delete(`/allocations/${consumers[i]}`, {headers}))

  console.log(JSON.stringify({
    bench: 'placement',
    hosts: HOSTS,
    numa_hosts: numaHosts,
    diskless_hosts: disklessHosts,
    shared_disks: aggregates.length * 2,
    providers: HOSTS + numaHosts * 2 + aggregates.length * 2,
    database: 'sqlite',
    placement_workers: 1,
    load_seconds: round(loadSeconds),
    samples: SAMPLES,
    numa_pinned_with_trait: numaPinned,
    ram_only: ramOnlyFigures,
    claims: {
      creators: CREATORS,
      count: CLAIMS,
      ec_claims_per_second: round(CLAIMS / ecSeconds, 2),
      ec_retries: retries,
      bare_claims_per_second: round(CLAIMS / bareSeconds, 2),
      bare_conflicts: bareConflicts,
      ratio: round(ecSeconds / bareSeconds, 2),
    },
  }))
} finally {
  await scheduler?.close()
  ec(['down', '--purge'])
  rmSync(dir, {recursive: true, force: true})
}
