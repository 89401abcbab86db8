#!/usr/bin/env node
// bench/boot, two figures (issue 4); prints one JSON line.
// (a) From starting `ec instance create --wait` to the guest's boot line
//     ("ec-test: boot") on its serial console, beside `virsh create` of the
//     same domain XML (dumped from ec's own domain, renamed, on a fresh
//     overlay) to the same line. Medians of BENCH_RUNS; target: ec adds at
//     most 15%.
// (b) Disk preparation time for overlay, copy and resize at 1, 10 and 50 GB
//     requested sizes (the libvirt backend's prepareDisk, in-process);
//     target: overlay under 100 ms and flat across sizes.
// (c) The real Debian 12 cloud image (scripts/build-debian-image.sh): ec
//     `create --wait` to ACTIVE (its phone-home after cloud-init's final
//     stage) and on to the first successful `ec instance ssh … true`, beside
//     `virsh create` of the same XML (ec's guest stopped, its forwards
//     dropped, a fresh overlay) to the guest's "Cloud-init v. … finished"
//     console line, each ec run followed by its virsh run. Medians of
//     BENCH_DEBIAN_RUNS (default 1; 0 skips it: each run is minutes under
//     TCG); target: ec ≤ 1.1× the virsh path. Where ec's time goes is printed
//     too: its build steps (from the record) and ACTIVE to ssh.
// (d) The qemu backend (examples/ec-plugin-qemu, bench/boot-qemu.js): create
//     --wait to the boot line with backends.hypervisor: qemu, beside a bare
//     qemu-system-x86_64 with the same command line, and beside (a)'s libvirt
//     figure. Medians of BENCH_QEMU_RUNS (default BENCH_RUNS; 0 skips it);
//     target: ec+qemu ≤ 1.1× bare qemu.
// BENCH_SCENARIOS=boot,disks,debian,qemu picks scenarios (default all). Guests
// boot under TCG through the system libvirtd (or, in (d), as plain qemu
// processes). Each scenario is one function returning its figures; they share
// one control plane and one agent (the libvirt one; (d) replaces it, so runs last).
import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {benchQemu, killQemuGuests} from './boot-qemu.js'
import {freePort, median, round, seconds, untilLine} from './lib.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const DEBIAN_RUNS = Number(process.env.BENCH_DEBIAN_RUNS ?? 1)
const QEMU_RUNS = Number(process.env.BENCH_QEMU_RUNS ?? process.env.BENCH_RUNS ?? 5)
const SCENARIOS = new Set((process.env.BENCH_SCENARIOS ?? 'boot,disks,debian,qemu').split(',').map((s) => s.trim()))
if (DEBIAN_RUNS <= 0) SCENARIOS.delete('debian')
if (QEMU_RUNS <= 0) SCENARIOS.delete('qemu')
const CLOUD_INIT_FINISHED = /Cloud-init v\. \S+ finished at/
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const bin = join(root, 'bin', 'run.js')
const BOOT_LINE = 'ec-test: boot'

const {prepareDisk} = await import(join(root, 'plugins/libvirt/dist/disks.js'))
const {InstancePaths} = await import(join(root, 'plugins/libvirt/dist/naming.js'))
const {hostKeyAlias} = await import(join(root, 'dist/ssh/known-hosts.js'))
const {sshArguments} = await import(join(root, 'dist/ssh/ssh-target.js'))

/** Resolves with the seconds from `start` until `file` holds the boot line. */
const bootLine = (file, start, timeoutMs = 120_000) => untilLine(file, BOOT_LINE, start, timeoutMs)

const image = execFileSync('bash', [join(root, 'scripts', 'build-test-image.sh')], {encoding: 'utf8'}).trim().split('\n').at(-1)
// Where the tests keep it (test/helpers/debian-image.ts): built once per package update, shared by every checkout.
const debianImage = SCENARIOS.has('debian')
  ? execFileSync('bash', [join(root, 'scripts', 'build-debian-image.sh'), join(process.env.EC_TEST_CACHE_DIR ?? '/var/cache/ec-tests', 'debian-image', 'debian-12.qcow2')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    })
      .trim()
      .split('\n')
      .at(-1)
  : undefined
const dir = mkdtempSync(join(tmpdir(), 'ec-bench-boot-'))
chmodSync(dir, 0o755) // qemu runs as libvirt-qemu
const instancesDir = join(dir, 'instances')
const [clientPort, peerPort, placementPort, metadataPort] = [await freePort(), await freePort(), await freePort(), await freePort()]
const configFile = join(dir, 'ec.config.yaml')
writeFileSync(
  configFile,
  [
    `stateDir: ${join(dir, 'state')}`,
    `controlPlane: {etcd: {clientPort: ${clientPort}, peerPort: ${peerPort}}, placement: {port: ${placementPort}}}`,
    `libvirt: {uri: "qemu:///system", instancesDir: ${instancesDir}, imageCacheDir: ${join(dir, 'cache')}}`,
    `metadata: {port: ${metadataPort}, dataDir: ${join(dir, 'metadata')}}`,
    // (c) stops ec's guest behind its back: the agent must not notice before the run is over.
    'compute: {inventory: {VCPU: 8, MEMORY_MB: 8192, DISK_GB: 200}, reserved: {MEMORY_MB: 0}, resyncSeconds: 86400, guestReadyTimeoutSeconds: 3600}',
    `images: {test: {path: ${image}}${debianImage ? `, debian: {path: ${debianImage}}` : ''}}`,
  ].join('\n') + '\n',
)
const env = {PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, 'c'), XDG_DATA_HOME: join(dir, 'd'), EC_CONFIG: configFile}
const ec = (args) => spawnSync(process.execPath, [bin, ...args], {env, cwd: dir, encoding: 'utf8'})
const virsh = (...args) => execFileSync('virsh', ['-c', 'qemu:///system', ...args], {encoding: 'utf8'})
let agent

/** `ec …` without blocking the event loop; resolves with its exit code and output. */
const run = (args) => runCommand(process.execPath, [bin, ...args])

/** A command without blocking the event loop; resolves with its exit code and output. */
function runCommand(command, args) {
  return new Promise((resolve) => {
    const child = spawn(command, args, {env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe']})
    let [stdout, stderr] = ['', '']
    child.stdout.on('data', (c) => (stdout += c))
    child.stderr.on('data', (c) => (stderr += c))
    child.once('exit', (code) => resolve({code, stdout, stderr}))
  })
}

/**
 * `virsh create` of a copy of ec's domain XML on a fresh overlay of `baseImage`:
 * its own name, uuid and console log, no forwards (ec's ports stay ec's).
 * Seconds until `line` shows on its console.
 */
async function virshCopyTo(domainXml, baseImage, line, diskBytes, timeoutMs = 1_800_000) {
  const uuid = randomUUID()
  const own = join(instancesDir, `virsh-${uuid}`)
  mkdirSync(own, {recursive: true})
  const disk = join(own, 'disk.qcow2')
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', baseImage, '-F', 'qcow2', disk, String(diskBytes)])
  const xml = domainXml
    .replace(/<name>[^<]+<\/name>/, `<name>bench-${uuid}</name>`)
    .replace(/<uuid>[^<]+<\/uuid>/, `<uuid>${uuid}</uuid>`)
    .replace(/<mac address='[^']+'\/>/, '')
    .replace(/,hostfwd=[^,']+/g, '')
    .replace(/<source file='[^']*disk\.qcow2'[^/]*\/>/, `<source file='${disk}'/>`)
    .replace(/file='[^']*console\.log'/g, `file='${join(own, 'console.log')}'`)
    .replace(/<backingStore[\s\S]*?<\/backingStore>/g, '')
  const file = join(own, 'domain.xml')
  writeFileSync(file, xml)
  const start = process.hrtime.bigint()
  virsh('create', file)
  try {
    return await untilLine(join(own, 'console.log'), line, start, timeoutMs, 50)
  } finally {
    virsh('destroy', `bench-${uuid}`)
    rmSync(own, {recursive: true, force: true})
  }
}

/** (a) The test image: create --wait to its boot line, beside virsh create of the same XML to the same line. */
async function testImageBoot() {
  // ec: the clock starts as the command is started; the instance's console log is found as it appears.
  const ecTimes = []
  let domainXml
  for (let i = 0; i < RUNS + 1; i++) {
    const known = new Set(existsSync(instancesDir) ? readdirSync(instancesDir) : [])
    const start = process.hrtime.bigint()
    const child = spawn(process.execPath, [bin, 'instance', 'create', `boot${i}`, '--vcpus', '1', '--memory', '256', '--disk', '1', '--image', 'test', '--wait', '--json'], {env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe']})
    let id
    while (!id) {
      id = existsSync(instancesDir) ? readdirSync(instancesDir).find((d) => !known.has(d)) : undefined
      if (!id) await new Promise((r) => setTimeout(r, 5))
    }

    const elapsed = await bootLine(join(instancesDir, id, 'console.log'), start)
    await new Promise((r) => child.once('exit', r))
    if (i > 0) ecTimes.push(elapsed) // the first run warms the metadata server and caches
    else domainXml = virsh('dumpxml', `ec-${id}`)
    ec(['instance', 'delete', `boot${i}`])
  }

  // The same domain, by hand: a fresh overlay, its own name, uuid, MAC and console log.
  const virshTimes = []
  for (let i = 0; i < RUNS + 1; i++) {
    const elapsed = await virshCopyTo(domainXml, image, new RegExp(BOOT_LINE), 1024 ** 3, 120_000)
    if (i > 0) virshTimes.push(elapsed)
  }

  const ecMedian = median(ecTimes)
  const virshMedian = median(virshTimes)
  const ratio = round(ecMedian / virshMedian, 2)
  return {
    runs: RUNS,
    ec_to_boot_line_s: round(ecMedian, 2),
    virsh_to_boot_line_s: round(virshMedian, 2),
    ratio,
    target_ratio: 1.15,
    boot_within_target: ratio <= 1.15,
  }
}

/** (b) Disk preparation, in-process, on the test image. */
async function diskPreparation() {
  const paths = new InstancePaths(join(dir, 'disks'))
  const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', image], {encoding: 'utf8'}))
  const source = {ref: 'test', path: image, format: 'qcow2', virtualSizeBytes: info['virtual-size']}
  const disks = {}
  for (const strategy of ['overlay', 'copy', 'resize']) {
    for (const gb of [1, 10, 50]) {
      const spec = {id: randomUUID(), name: 'bench', vcpus: 1, memoryMb: 256, diskGb: gb, image: {ref: 'test', path: image}}
      const start = process.hrtime.bigint()
      await prepareDisk(spec, source, strategy, paths, () => {}, {partition: '/dev/sda1', forceTcg: true})
      disks[`${strategy}_${gb}gb_ms`] = round(seconds(start) * 1000)
      rmSync(paths.dir(spec.id), {recursive: true, force: true})
    }
  }

  const overlay = [disks.overlay_1gb_ms, disks.overlay_10gb_ms, disks.overlay_50gb_ms]
  return {...disks, overlay_target_ms: 100, overlay_within_target: Math.max(...overlay) < 100}
}

/** Seconds between two ISO timestamps of a record. */
const between = (from, to) => (from && to ? (Date.parse(to) - Date.parse(from)) / 1000 : undefined)

/**
 * (c) The Debian image: ec to ACTIVE and on to the first `ec instance ssh … true`,
 * then virsh create of the same XML to cloud-init's final line; run after run.
 */
async function debianImageBoot() {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id_ed25519')])
  const [active, sshable, direct, steps, sshAfterActive, sshTries, sshParts] = [[], [], [], [], [], [], []]
  for (let i = 0; i < DEBIAN_RUNS; i++) {
    const name = `deb${i}`
    const start = process.hrtime.bigint()
    const created = await run(['instance', 'create', name, '--vcpus', '1', '--memory', '1024', '--disk', '3', '--image', 'debian', '--key-file', join(dir, 'id_ed25519.pub'), '--wait', '--json'])
    if (created.code !== 0) throw new Error(`create ${name} (exit ${created.code}): ${created.stderr}${created.stdout}`)
    active.push(seconds(start))
    let tries = 1
    for (const deadline = Date.now() + 600_000; (await run(['instance', 'ssh', name, '--', 'true'])).code !== 0; tries++) {
      if (Date.now() > deadline) throw new Error(`no ssh into ${name}`)
      await new Promise((r) => setTimeout(r, 200))
    }

    sshable.push(seconds(start))
    sshAfterActive.push(sshable.at(-1) - active.at(-1))
    sshTries.push(tries)
    const record = JSON.parse(created.stdout)
    // Where ACTIVE-to-ssh goes: the same `ec instance ssh … true` again (the guest's first login is behind it),
    // the system ssh alone with the arguments ec hands it, and a bare node start, each timed once.
    const timed = async (command, args) => {
      const from = process.hrtime.bigint()
      const result = await runCommand(command, args)
      if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} (exit ${result.code}): ${result.stderr}`)
      return seconds(from)
    }
    const port = Number(record.ports.find((p) => p.guest === 22).host.split(':').at(-1))
    const bareSsh = sshArguments({host: '127.0.0.1', port, user: 'debian', identity: join(dir, 'id_ed25519')}, join(dir, 'state', 'ssh', 'known_hosts'), hostKeyAlias(record.id), ['true'])
    sshParts.push({
      ec_ssh_again: await timed(process.execPath, [bin, 'instance', 'ssh', name, '--', 'true']),
      system_ssh: await timed('ssh', bareSsh),
      node_start: await timed(process.execPath, ['-e', '0']),
    })
    steps.push(Object.fromEntries(Object.entries(record.steps).map(([step, t]) => [step, between(t.started, t.finished)])))
    const xml = virsh('dumpxml', `ec-${record.id}`)
    virsh('destroy', `ec-${record.id}`) // its seed stays published: the copy reads the same metadata
    direct.push(await virshCopyTo(xml, debianImage, CLOUD_INIT_FINISHED, 3 * 1024 ** 3))
    ec(['instance', 'delete', name])
    console.error(
      `bench/boot: debian run ${i + 1}/${DEBIAN_RUNS}: ec to ACTIVE ${round(active.at(-1))} s, to ssh ${round(sshable.at(-1))} s (${tries} tries); virsh to cloud-init finished ${round(direct.at(-1))} s; ec's steps ${JSON.stringify(steps.at(-1))}; after ssh (s) ${JSON.stringify(sshParts.at(-1))}`,
    )
  }

  const stepMedians = {}
  for (const step of Object.keys(steps[0])) stepMedians[step] = round(median(steps.map((s) => s[step] ?? 0)), 1)
  return {
    debian_runs: DEBIAN_RUNS,
    debian_ec_to_active_s: round(median(active), 1),
    debian_ec_to_ssh_s: round(median(sshable), 1),
    debian_virsh_to_cloud_init_finished_s: round(median(direct), 1),
    debian_ratio_active: round(median(active) / median(direct), 2),
    debian_ratio_ssh: round(median(sshable) / median(direct), 2),
    debian_target_ratio: 1.1,
    debian_ec_steps_s: stepMedians,
    debian_ec_active_to_ssh_s: round(median(sshAfterActive), 1),
    debian_ec_ssh_tries: median(sshTries),
    // After the first ssh: `ec instance ssh … true` again, the system ssh alone (the guest's share), node -e 0.
    debian_after_ssh_s: Object.fromEntries(Object.keys(sshParts[0]).map((part) => [part, round(median(sshParts.map((p) => p[part])), 2)])),
    debian_samples: {ec_to_active_s: active.map((t) => round(t)), ec_to_ssh_s: sshable.map((t) => round(t)), virsh_s: direct.map((t) => round(t))},
  }
}

/**
 * (d) The qemu backend (bench/boot-qemu.js): the libvirt agent steps aside so
 * the qemu agent takes the creates; beside (a)'s libvirt figure when (a) ran.
 */
async function qemuBackendBoot(libvirtBootLineS) {
  const libvirtAgent = agent
  agent = undefined
  libvirtAgent.kill('SIGTERM')
  await new Promise((r) => (libvirtAgent.exitCode === null ? libvirtAgent.once('exit', r) : r()))
  // A stopped agent's host stays a Placement candidate (its guests and
  // allocations stay): take it out of scheduling, as an operator would.
  const disabled = ec(['host', 'disable', 'bench-boot', '--reason', 'bench: the qemu agent takes the creates'])
  if (disabled.status !== 0) throw new Error(`ec host disable bench-boot: ${disabled.stderr}`)
  const qemu = {qemu_runs: QEMU_RUNS, ...(await benchQemu({bin, root, dir, env, image, runs: QEMU_RUNS, adopt: (child) => (agent = child)}))}
  if (libvirtBootLineS) qemu.qemu_vs_libvirt_ratio = round(qemu.qemu_ec_to_boot_line_s / libvirtBootLineS, 2)
  return qemu
}

try {
  const up = ec(['up'])
  if (up.status !== 0) throw new Error(`ec up failed (exit ${up.status}): ${up.stderr}${up.stdout}`)
  agent = spawn(process.execPath, [bin, 'compute', 'start', '--name', 'bench-boot', '--state-dir', join(dir, 'agent')], {env, stdio: ['ignore', 'pipe', 'inherit']})
  await new Promise((resolve, reject) => {
    let out = ''
    agent.stdout.on('data', (chunk) => (out += chunk) && out.includes('is schedulable') && resolve())
    agent.once('exit', (code) => reject(new Error(`agent exited ${code}: ${out}`)))
  })

  const figures = {bench: 'boot'}
  if (SCENARIOS.has('boot')) Object.assign(figures, await testImageBoot())
  if (SCENARIOS.has('disks')) Object.assign(figures, await diskPreparation())
  if (SCENARIOS.has('debian')) Object.assign(figures, await debianImageBoot())
  if (SCENARIOS.has('qemu')) Object.assign(figures, await qemuBackendBoot(figures.ec_to_boot_line_s))
  console.log(JSON.stringify(figures))
} finally {
  agent?.kill('SIGTERM')
  if (agent && agent.exitCode === null) await new Promise((r) => agent.once('exit', r))
  killQemuGuests(dir)
  ec(['down', '--purge'])
  rmSync(dir, {recursive: true, force: true})
}
