#!/usr/bin/env node
// bench/startup: wall time of `ec --help`, `ec status --json` and
// `ec backends list --json`, median of 10 runs each, against a control plane
// this script starts on free loopback ports. Prints one JSON line.
// Target (issue 2): `ec --help` under 300 ms.
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {freePort, median} from './lib.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 10)
const bin = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'run.js')

const dir = mkdtempSync(join(tmpdir(), 'ec-bench-'))
const configFile = join(dir, 'ec.config.yaml')
const ports = [await freePort(), await freePort(), await freePort()]
writeFileSync(
  configFile,
  `stateDir: ${join(dir, 'state')}\ncontrolPlane:\n  etcd: {clientPort: ${ports[0]}, peerPort: ${ports[1]}}\n  placement: {port: ${ports[2]}}\n`,
)
const env = {PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, 'c'), XDG_DATA_HOME: join(dir, 'd'), EC_CONFIG: configFile}
const ec = (args) => spawnSync(process.execPath, [bin, ...args], {env, cwd: dir, encoding: 'utf8'})

function measure(args, expectedExit = 0) {
  ec(args) // warm the file cache once
  const times = []
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint()
    const result = ec(args)
    times.push(Number(process.hrtime.bigint() - start) / 1e6)
    if (result.status !== expectedExit) throw new Error(`ec ${args.join(' ')} exited ${result.status}: ${result.stderr}`)
  }

  return Math.round(median(times) * 10) / 10
}

try {
  const up = ec(['up'])
  if (up.status !== 0) throw new Error(`ec up failed: ${up.stderr}`)
  const figures = {
    bench: 'startup',
    runs: RUNS,
    help_ms: measure(['--help']),
    status_json_ms: measure(['status', '--json']),
    backends_list_json_ms: measure(['backends', 'list', '--json']),
    target_help_ms: 300,
  }
  figures.help_within_target = figures.help_ms < figures.target_help_ms
  console.log(JSON.stringify(figures))
} finally {
  ec(['down', '--purge'])
  rmSync(dir, {recursive: true, force: true})
}
