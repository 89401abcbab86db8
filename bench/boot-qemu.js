// bench/boot's qemu part (issue 12): `ec instance create --wait` to the test
// image's boot line with `backends.hypervisor: qemu` (examples/ec-plugin-qemu,
// linked into this run's own ec data dir), beside a bare qemu-system-x86_64
// started with the very arguments ec's guest ran with (its definition's
// command line: a fresh overlay, its own pidfile, QMP socket and console
// log, no forwards). Medians of `runs`; target: ec+qemu ≤ 1.1× bare qemu.
import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {median, round} from './lib.js'

const BOOT_LINE = 'ec-test: boot'
const seconds = (start) => Number(process.hrtime.bigint() - start) / 1e9

async function untilBootLine(file, start, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (existsSync(file) && readFileSync(file, 'utf8').includes(BOOT_LINE)) return seconds(start)
    if (Date.now() > deadline) throw new Error(`no boot line in ${file}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

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
  let definition
  for (let i = 0; i < runs + 1; i++) {
    const known = new Set(existsSync(guestsDir) ? readdirSync(guestsDir) : [])
    const start = process.hrtime.bigint()
    const child = spawn(process.execPath, [bin, 'instance', 'create', `qboot${i}`, '--vcpus', '1', '--memory', '256', '--disk', '1', '--image', 'test', '--wait', '--json'], {env: qenv, cwd: dir, stdio: ['ignore', 'pipe', 'pipe']})
    let id
    while (!id) {
      id = existsSync(guestsDir) ? readdirSync(guestsDir).find((d) => !known.has(d) && /^[0-9a-f-]{36}$/.test(d)) : undefined
      if (!id) await new Promise((r) => setTimeout(r, 5))
    }

    const elapsed = await untilBootLine(join(guestsDir, id, 'console.log'), start)
    const code = await new Promise((r) => child.once('exit', r))
    if (code !== 0) throw new Error(`ec instance create qboot${i} exited ${code}`)
    if (i > 0) ecTimes.push(elapsed) // the first run warms the metadata server and caches
    else definition = JSON.parse(readFileSync(join(guestsDir, id, 'guest.json'), 'utf8'))
    ec(['instance', 'delete', `qboot${i}`])
  }

  // The same command line by hand: a fresh overlay and its own files, no forwards.
  const bareTimes = []
  for (let i = 0; i < runs + 1; i++) {
    const own = join(dir, `bare-${i}`)
    mkdirSync(own, {recursive: true})
    const ecDir = join(guestsDir, definition.id)
    const disk = join(own, 'disk.qcow2')
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', image, '-F', 'qcow2', disk, String(1024 ** 3)])
    const args = definition.args.map((arg) => arg.replaceAll(ecDir, own).replace(/,hostfwd=[^,]+/g, ''))
    const start = process.hrtime.bigint()
    execFileSync(definition.binary, args, {stdio: 'ignore'})
    try {
      const elapsed = await untilBootLine(join(own, 'console.log'), start)
      if (i > 0) bareTimes.push(elapsed)
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

  const ecMedian = median(ecTimes)
  const bareMedian = median(bareTimes)
  const figures = {
    qemu_ec_to_boot_line_s: round(ecMedian, 2),
    qemu_bare_to_boot_line_s: round(bareMedian, 2),
    qemu_ratio: round(ecMedian / bareMedian, 2),
    qemu_target_ratio: 1.1,
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
