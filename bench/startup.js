#!/usr/bin/env node
// bench/startup: what a command costs to start, as a ratio to a bare
// `node -e 0` measured in the same run. Runs are interleaved (node, help,
// list, node, help, list, …) so a machine whose load changes during the run
// weighs on every figure alike. `ec instance list` runs against a control
// plane this script starts on free loopback ports (mutual TLS), holding 1,000
// instance records: with --json and as a table (both served without oclif,
// src/startup/), as `instance:list --json` (the same command through oclif,
// for comparison), and against an etcd that does not answer (exit 4); and,
// as the floor under any list, bench/startup-read.js: the same records read
// with ec's own etcd read, parsed and printed, and nothing else (no config,
// no plugins, no rows). Prints one JSON line: each median (ms), its ratio to
// node's, and the targets (issue 13: help ≤ 1.5×, list --json ≤ 3×).
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {freePort, median, round} from './lib.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 15)
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 1000)
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const bin = join(repo, 'bin', 'run.js')

const dir = mkdtempSync(join(tmpdir(), 'ec-bench-'))
const configFile = join(dir, 'ec.config.yaml')
const ports = [await freePort(), await freePort(), await freePort()]
writeFileSync(
  configFile,
  `stateDir: ${join(dir, 'state')}\ncontrolPlane:\n  etcd: {clientPort: ${ports[0]}, peerPort: ${ports[1]}}\n  placement: {port: ${ports[2]}}\n`,
)
const env = {
  PATH: process.env.PATH,
  HOME: dir,
  XDG_CONFIG_HOME: join(dir, 'c'),
  XDG_DATA_HOME: join(dir, 'd'),
  XDG_CACHE_HOME: join(dir, 'cache'),
  EC_CONFIG: configFile,
}
const run = (args, extraEnv = {}) => spawnSync(process.execPath, args, {env: {...env, ...extraEnv}, cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20})
const ec = (args) => run([bin, ...args])

/** 1,000 ACTIVE records and their names, written straight into etcd as the create flow would leave them. */
async function populate(count) {
  const {EtcdTransport} = await import(join(repo, 'plugins', 'etcd', 'dist', 'transport.js'))
  // ec up serves mutual TLS: present the local admin's bundle, as the CLI does.
  const credentials = join(dir, 'state', 'credentials.json')
  const {etcd} = JSON.parse(readFileSync(credentials, 'utf8'))
  const transport = new EtcdTransport({endpoints: etcd.endpoints, prefix: '/ec', timeoutMs: 10_000, tls: {credentials}})
  try {
    const at = new Date().toISOString()
    for (let start = 0; start < count; start += 50) {
      const ops = []
      for (let i = start; i < Math.min(count, start + 50); i++) {
        const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`
        const record = {
          id,
          name: `bench-${i}`,
          state: 'ACTIVE',
          spec: {
            vcpus: 1,
            memoryMb: 256,
            diskGb: 1,
            resources: {VCPU: 1, MEMORY_MB: 256, DISK_GB: 1},
            requiredTraits: [],
            forbiddenTraits: [],
            memberOf: [],
            image: {ref: 'base', url: 'file:///srv/base.qcow2'},
            publicKeys: [],
            meta: {},
          },
          host: {id: '11111111-1111-4111-8111-111111111111', name: 'bench-host'},
          allocations: {VCPU: 1, MEMORY_MB: 256, DISK_GB: 1},
          step: 'guest',
          steps: {image: {started: at, finished: at}, disk: {started: at, finished: at}, boot: {started: at, finished: at}},
          address: `10.0.${i >> 8}.${i & 255}`,
          buildAttempts: 1,
          createdAt: at,
          updatedAt: at,
        }
        ops.push({op: 'put', key: `instances/${id}`, value: JSON.stringify(record)}, {op: 'put', key: `names/bench-${i}`, value: id})
      }

      const result = await transport.commit([], ops)
      if (!result.ok) throw new Error('could not write the benchmark records')
    }
  } finally {
    await transport.close()
  }
}

const listed = (r) => JSON.parse(r.stdout).length === INSTANCES || `listed ${JSON.parse(r.stdout).length} instances, not ${INSTANCES}`
const deadPort = await freePort()
const cases = {
  node: {args: ['-e', '0']},
  help: {args: [bin, '--help']},
  list_json: {args: [bin, 'instance', 'list', '--json'], check: listed},
  list_table: {
    args: [bin, 'instance', 'list'],
    check: (r) => r.stdout.trim().split('\n').length === INSTANCES + 1 || 'the table does not have a row per instance',
  },
  list_json_oclif: {args: [bin, 'instance:list', '--json'], check: listed},
  list_read_floor: {
    args: [join(repo, 'bench', 'startup-read.js'), join(dir, 'state', 'credentials.json'), '/ec'],
    check: listed,
  },
  list_etcd_down: {
    args: [bin, 'instance', 'list', '--json'],
    env: {EC_ETCD_ENDPOINTS: `https://127.0.0.1:${deadPort}`},
    status: 4,
  },
}

try {
  const up = ec(['up'])
  if (up.status !== 0) throw new Error(`ec up failed: ${up.stderr}`)
  await populate(INSTANCES)
  const times = Object.fromEntries(Object.keys(cases).map((name) => [name, []]))
  for (let i = -1; i < RUNS; i++) {
    for (const [name, {args, check, env: extraEnv, status = 0}] of Object.entries(cases)) {
      const start = process.hrtime.bigint()
      const result = run(args, extraEnv)
      const ms = Number(process.hrtime.bigint() - start) / 1e6
      if (result.status !== status) throw new Error(`${name} exited ${result.status}, not ${status}: ${result.stderr}`)
      const verdict = check?.(result) ?? true
      if (verdict !== true) throw new Error(`${name}: ${verdict}`)
      if (i >= 0) times[name].push(ms) // the first round only warms the file cache (and ec's own caches)
    }
  }

  const node = median(times.node)
  const figures = {}
  for (const name of Object.keys(cases).filter((n) => n !== 'node')) {
    figures[`${name}_ms`] = round(median(times[name]))
    figures[`${name}_ratio`] = round(median(times[name]) / node, 2)
  }

  console.log(
    JSON.stringify({
      bench: 'startup',
      runs: RUNS,
      instances: INSTANCES,
      node_e0_ms: round(node),
      ...figures,
      help_target_ratio: 1.5,
      list_json_target_ratio: 3,
    }),
  )
} finally {
  ec(['down', '--purge'])
  rmSync(dir, {recursive: true, force: true})
}
