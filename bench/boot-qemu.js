// bench/boot's qemu part (issue 12): `ec instance create --wait` to the test
// image's boot line with `backends.hypervisor: qemu` (examples/ec-plugin-qemu,
// linked into this run's own ec data dir), beside a bare qemu-system-x86_64
// started with the very arguments ec's guest ran with (its definition's
// command line: a fresh overlay, its own pidfile, QMP socket and console
// log, no forwards). Medians of `runs`; target: ec+qemu ≤ 1.1× bare qemu.
// Beside the totals, where ec's time goes (medians, seconds): the CLI's start
// (to its PENDING record), the Placement claim, the etcd hand-off (to the
// agent's accept), each build step (image, disk, define, boot = qemu
// start), and from qemu's start to the boot line (the guest itself); beside
// them bare qemu's own start (until -daemonize returns).
//
// Run on its own (`node bench/boot-qemu.js`, BENCH_QEMU_RUNS, default 5) it
// starts a control plane of its own; bench/boot runs it as its part (d).
import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {freePort, median, round, untilLine} from './lib.js'

const BOOT_LINE = 'ec-test: boot'
const untilBootLine = (file, start, timeoutMs = 180_000) => untilLine(file, BOOT_LINE, start, timeoutMs)

function waitForLine(child, line) {
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (chunk) => (out += chunk) && out.includes(line) && resolve())
    child.once('exit', (code) => reject(new Error(`agent exited ${code}: ${out}`)))
  })
}

/**
 * `dir`, `env` (EC_CONFIG set), `bin` and `image` (the test image, qcow2) are bench/boot's; its control plane runs and
 * no other agent may take the creates. `adopt(child)` is handed the qemu agent, which the caller stops.
 */
export async function benchQemu({bin, root, dir, env, image, runs, adopt}) {
  const guestsDir = join(dir, 'qg')
  const config = join(dir, 'ec.qemu.yaml')
  const base = readFileSync(env.EC_CONFIG, 'utf8')
  writeFileSync(
    config,
    base.replace(/^backends:.*\n/m, '') +
      `backends: {hypervisor: qemu}\nqemu: {guestsDir: ${guestsDir}, imageCacheDir: ${join(dir, 'qemu-images')}, shutdownTimeoutSeconds: 0}\n`,
  )
  const qenv = {...env, EC_CONFIG: config}
  const ec = (args) => spawnSync(process.execPath, [bin, ...args], {env: qenv, cwd: dir, encoding: 'utf8'})
  const linked = ec(['plugins', 'link', join(root, 'examples', 'ec-plugin-qemu'), '--no-install'])
  if (linked.status !== 0) throw new Error(`ec plugins link: ${linked.stderr}`)
  const agent = spawn(process.execPath, [bin, 'compute', 'start', '--name', 'bench-qemu', '--state-dir', join(dir, 'qemu-agent')], {env: qenv, stdio: ['ignore', 'pipe', 'inherit']})
  adopt(agent)
  await waitForLine(agent, 'is schedulable')

  const ecTimes = []
  const phases = {}
  let definition
  const ecRun = async (i) => {
    const known = new Set(existsSync(guestsDir) ? readdirSync(guestsDir) : [])
    const start = process.hrtime.bigint()
    const startedAt = Date.now()
    const child = spawn(process.execPath, [bin, 'instance', 'create', `qboot${i}`, '--vcpus', '1', '--memory', '256', '--disk', '1', '--image', 'test', '--wait', '--json'], {env: qenv, cwd: dir, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    let stderr = ''
    child.stderr.on('data', (chunk) => (stderr += chunk))
    const deadline = Date.now() + 180_000
    let id
    while (!id) {
      id = existsSync(guestsDir) ? readdirSync(guestsDir).find((d) => !known.has(d) && /^[0-9a-f-]{36}$/.test(d)) : undefined
      if (id) break
      if (child.exitCode !== null) throw new Error(`ec instance create qboot${i} exited ${child.exitCode} before its guest appeared: ${stderr}`)
      if (Date.now() > deadline) throw new Error(`no guest directory for qboot${i} in ${guestsDir} after 180 s (scheduled on another host?)`)
      await new Promise((r) => setTimeout(r, 5))
    }

    const elapsed = await untilBootLine(join(guestsDir, id, 'console.log'), start)
    const code = await new Promise((r) => child.once('exit', r))
    if (code !== 0) throw new Error(`ec instance create qboot${i} exited ${code}`)
    if (i > 0) {
      ecTimes.push(elapsed) // the first run warms the metadata server and caches
      for (const [phase, s] of Object.entries(breakdown(JSON.parse(stdout), startedAt, elapsed))) (phases[phase] ??= []).push(s)
    } else {
      definition = JSON.parse(readFileSync(join(guestsDir, id, 'guest.json'), 'utf8'))
    }

    ec(['instance', 'delete', `qboot${i}`])
  }

  // The same command line by hand: a fresh overlay and its own files, no forwards.
  const bareTimes = []
  const bareStarts = []
  const bareRun = async (i) => {
    const own = join(dir, `bare-${i}`)
    mkdirSync(own, {recursive: true})
    const ecDir = join(guestsDir, definition.id)
    const disk = join(own, 'disk.qcow2')
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', image, '-F', 'qcow2', disk, String(1024 ** 3)])
    const args = definition.args.map((arg) => arg.replaceAll(ecDir, own).replace(/,hostfwd=[^,]+/g, ''))
    const start = process.hrtime.bigint()
    execFileSync(definition.binary, args, {stdio: 'ignore'})
    // -daemonize returns once qemu has set the guest up: what ec's qemu_start is to its own.
    const qemuStart = Number(process.hrtime.bigint() - start) / 1e9
    try {
      const elapsed = await untilBootLine(join(own, 'console.log'), start)
      if (i > 0) {
        bareTimes.push(elapsed)
        bareStarts.push(qemuStart)
      }
    } finally {
      const pid = Number(readFileSync(join(own, 'qemu.pid'), 'utf8'))
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // gone already
      }

      for (let j = 0; j < 200 && existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'); j++) await new Promise((r) => setTimeout(r, 50))
      rmSync(own, {recursive: true, force: true})
    }
  }

  // Interleaved (ec, bare, ec, bare, …), so a machine whose load changes
  // during the run weighs on both alike; the first of each only warms up.
  for (let i = 0; i < runs + 1; i++) {
    await ecRun(i)
    await bareRun(i)
  }

  const ecMedian = median(ecTimes)
  const bareMedian = median(bareTimes)
  const figures = {
    qemu_ec_to_boot_line_s: round(ecMedian, 2),
    qemu_bare_to_boot_line_s: round(bareMedian, 2),
    qemu_ratio: round(ecMedian / bareMedian, 2),
    qemu_target_ratio: 1.1,
    ...Object.fromEntries(Object.entries(phases).map(([phase, values]) => [`qemu_ec_${phase}_s`, round(median(values), 2)])),
    qemu_bare_qemu_start_s: round(median(bareStarts), 2),
  }
  figures.qemu_within_target = figures.qemu_ratio <= figures.qemu_target_ratio
  return figures
}

/** After a failure: stop every qemu this part started (their pidfiles are under `dir`). */
export function killQemuGuests(dir) {
  for (const parent of [join(dir, 'qg'), dir]) {
    for (const entry of existsSync(parent) ? readdirSync(parent) : []) {
      const pidfile = join(parent, entry, 'qemu.pid')
      if (!existsSync(pidfile)) continue
      try {
        process.kill(Number(readFileSync(pidfile, 'utf8')), 'SIGKILL')
      } catch {
        // gone already
      }
    }
  }
}

/** Seconds of each stretch of one create, from its record's step times (wall clock, ms) and the boot line's time. */
function breakdown(record, startedAt, bootLineS) {
  const at = (step, end = 'started') => Date.parse(record.steps[step]?.[end] ?? '')
  const s = (from, to) => round((to - from) / 1000, 3)
  return {
    cli_start: s(startedAt, Date.parse(record.createdAt)),
    claim: s(Date.parse(record.createdAt), at('notify')),
    handoff: s(at('notify'), at('accepted')),
    image: s(at('image'), at('disk')),
    disk: s(at('disk'), at('define')),
    define: s(at('define'), at('boot')),
    qemu_start: s(at('boot'), at('guest')),
    guest_to_boot_line: s(at('guest'), startedAt + bootLineS * 1000),
  }
}

// On its own: a control plane of its own, only this part.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
  const bin = join(root, 'bin', 'run.js')
  const runs = Number(process.env.BENCH_QEMU_RUNS ?? 5)
  const image = execFileSync('bash', [join(root, 'scripts', 'build-test-image.sh')], {encoding: 'utf8'}).trim().split('\n').at(-1)
  const dir = mkdtempSync(join(tmpdir(), 'ec-bench-qemu-'))
  chmodSync(dir, 0o755)
  const [clientPort, peerPort, placementPort, metadataPort] = [await freePort(), await freePort(), await freePort(), await freePort()]
  const configFile = join(dir, 'ec.config.yaml')
  writeFileSync(
    configFile,
    [
      `stateDir: ${join(dir, 'state')}`,
      `controlPlane: {etcd: {clientPort: ${clientPort}, peerPort: ${peerPort}}, placement: {port: ${placementPort}}}`,
      `metadata: {port: ${metadataPort}, dataDir: ${join(dir, 'metadata')}}`,
      'compute: {inventory: {VCPU: 8, MEMORY_MB: 8192, DISK_GB: 200}, reserved: {MEMORY_MB: 0}, resyncSeconds: 86400, guestReadyTimeoutSeconds: 3600}',
      `images: {test: {path: ${image}}}`,
    ].join('\n') + '\n',
  )
  const env = {PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, 'c'), XDG_DATA_HOME: join(dir, 'd'), EC_CONFIG: configFile}
  const ec = (args) => spawnSync(process.execPath, [bin, ...args], {env, cwd: dir, encoding: 'utf8'})
  let agent
  try {
    const up = ec(['up'])
    if (up.status !== 0) throw new Error(`ec up failed: ${up.stderr}`)
    const figures = await benchQemu({bin, root, dir, env, image, runs, adopt: (child) => (agent = child)})
    console.log(JSON.stringify({bench: 'boot-qemu', qemu_runs: runs, ...figures}))
  } finally {
    agent?.kill('SIGTERM')
    if (agent && agent.exitCode === null) await new Promise((r) => agent.once('exit', r))
    killQemuGuests(dir)
    ec(['down', '--purge'])
    rmSync(dir, {recursive: true, force: true})
  }
}
