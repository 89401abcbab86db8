// A control plane that outgrows one machine, on one machine: `ec up
// --etcd-members 3 --database mariadb` runs three etcd members on 127.0.0.1,
// .2 and .3 (peer and client mutual TLS, one cluster CA) and Placement on a
// private MariaDB behind several gunicorn workers; every other "machine" — a
// compute host per address, and a user's CLI — has its own HOME, config,
// state directory and credentials bundle from `ec cluster credentials`, and
// nothing else of the controller's. The fault suite's checks (test/faults/
// harness.ts) run on it through FaultCluster.attach.
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {Etcd3} from 'etcd3'

import {EtcdTransport} from '../../plugins/etcd/src/transport.js'
import {PlacementScheduler} from '../../plugins/placement/src/scheduler.js'
import {exitCodeOf, isReportable} from '../../src/errors.js'
import {InstanceStore} from '../../src/instances/store.js'
import {createInstance} from '../../src/scheduling/create.js'
import {buildSpec} from '../../src/scheduling/request.js'
import {type CreateOutcome, FaultCluster, FLAVOR, RESYNC_SECONDS} from '../faults/harness.js'
import {startAgent, type RunningAgent} from './agent.js'
import {makeSandbox, parseJson, runEc, type RunResult, type Sandbox} from './cli.js'
import type {TestControlPlane} from './control-plane.js'
import {registerCredentials} from './credentials.js'
import {etcd3Options} from './etcd.js'
import {makeQcow2} from './image-server.js'
import {freePorts} from './ports.js'
import {etcdReads as probeEtcd, httpsGet as probeHttps} from './tls-probes.js'

/** The addresses of the simulated machines: an etcd member and a compute host on each. */
export const ADDRESSES = ['127.0.0.1', '127.0.0.2', '127.0.0.3']
/** Generous for a loaded 2-core machine: a CLI run waits out stalls, it must not be cut short by the test. */
const CLI_TIMEOUT_MS = 300_000

export interface Machine {
  name: string
  dir: string
  /** Its own credentials bundle, issued by the controller. */
  bundle: string
  env: NodeJS.ProcessEnv
  ec(args: string[]): Promise<RunResult>
}

export interface EtcdMember {
  name: string
  address: string
  endpoint: string
}

export class TestCluster {
  /** The agents of the compute machines, by host name (FaultCluster stops them). */
  readonly agents: Map<string, RunningAgent>

  private constructor(
    readonly controller: Sandbox & {ec(args: string[]): Promise<RunResult>; stateDir: string},
    readonly members: EtcdMember[],
    readonly placementUrl: string,
    readonly adminBundle: string,
    readonly machines: Map<string, Machine>,
    readonly cli: Machine,
    readonly faults: FaultCluster,
    /** The etcd member the suite's own reads go to: one that runs. */
    private readonly live: {value: string},
    private readonly image: string,
  ) {
    this.agents = faults.agents
  }

  /**
   * Start the controller, issue a bundle for every machine, and start one
   * agent per compute machine with `vcpusPerHost` VCPU (the flavor `one`
   * takes one, so that is also its capacity in guests).
   */
  static async start(options: {vcpusPerHost: number}): Promise<TestCluster> {
    const sandbox = makeSandbox('ec-cluster-')
    const stateDir = join(sandbox.dir, 'controller')
    const controllerConfig = join(sandbox.dir, 'controller.yaml')
    const controllerEnv = {...sandbox.env, EC_CONFIG: controllerConfig}
    const controllerEc = (args: string[], timeoutMs = CLI_TIMEOUT_MS) => runEc(args, {env: controllerEnv, cwd: sandbox.dir, timeoutMs})
    const cleanupAll: Array<() => unknown> = [() => sandbox.cleanup()]
    const fail = async (error: unknown): Promise<never> => {
      await controllerEc(['down', '--purge'])
      for (const step of cleanupAll.reverse()) await step()
      throw error
    }

    let up: RunResult | undefined
    // The ports are free on 127.0.0.1 when picked; another address may differ (exit 9): pick again.
    for (let attempt = 1; attempt <= 3; attempt++) {
      const [clientPort, peerPort, placementPort, mariadbPort] = await freePorts(4)
      writeFileSync(
        controllerConfig,
        [
          `stateDir: ${stateDir}`,
          'controlPlane:',
          `  etcd: {clientPort: ${clientPort}, peerPort: ${peerPort}}`,
          `  placement: {port: ${placementPort}}`,
          `  mariadb: {port: ${mariadbPort}}`,
          '  startTimeoutSeconds: 300',
          '',
        ].join('\n'),
      )
      up = await controllerEc(['up', '--etcd-members', '3', '--database', 'mariadb', '--json'], 600_000)
      if (up.code !== 9) break
    }

    if (up!.code !== 0) return fail(new Error(`ec up --etcd-members 3 --database mariadb failed (exit ${up!.code}):\n${up!.stdout}\n${up!.stderr}`))
    const {services} = parseJson<{services: Array<{name: string; endpoint: string}>}>(up!)
    const members = services
      .filter((s) => s.name.startsWith('etcd@'))
      .map((s) => ({name: s.name, address: s.name.slice('etcd@'.length), endpoint: s.endpoint}))
    const placementUrl = services.find((s) => s.name === 'placement')!.endpoint
    const adminBundle = join(stateDir, 'credentials.json')
    // The test's own reads (etcdKeys, providers, …) present the local admin's certificate.
    cleanupAll.push(registerCredentials(adminBundle, [...members.map((m) => m.endpoint), placementUrl]))

    const imageDir = mkdtempSync(join(tmpdir(), 'ec-cluster-image-'))
    cleanupAll.push(() => rmSync(imageDir, {recursive: true, force: true}))
    const image = makeQcow2(imageDir, 'base.qcow2', '16M')
    const controller = Object.assign(sandbox, {ec: (args: string[]) => controllerEc(args), stateDir})

    // Every other machine: its own HOME, config and state, and only its bundle from the controller.
    const machine = async (name: string, address?: string): Promise<Machine> => {
      const dir = join(sandbox.dir, 'machines', name)
      mkdirSync(dir, {recursive: true})
      const bundle = join(dir, 'credentials.json')
      const issued = await controllerEc(['cluster', 'credentials', name, '--out', bundle])
      if (issued.code !== 0) throw new Error(`ec cluster credentials ${name} failed (exit ${issued.code}): ${issued.stderr}`)
      const config = join(dir, 'ec.config.yaml')
      writeFileSync(config, machineConfig(options.vcpusPerHost, image, address))
      const home = makeSandbox(`ec-${name}-`)
      cleanupAll.push(() => home.cleanup())
      const env = {...home.env, EC_CONFIG: config, EC_CREDENTIALS: bundle}
      return {name, dir, bundle, env, ec: (args) => runEc(args, {env, cwd: dir, timeoutMs: CLI_TIMEOUT_MS})}
    }

    let faults: FaultCluster | undefined
    try {
      const machines = new Map<string, Machine>()
      for (const [i, address] of ADDRESSES.entries()) machines.set(`host-${i + 1}`, await machine(`host-${i + 1}`, address))
      const cli = await machine('cli')
      const live = {value: members[0].endpoint}
      const store = new InstanceStore(
        new EtcdTransport({endpoints: members.map((m) => m.endpoint), prefix: '/ec', timeoutMs: 15_000, tls: {credentials: adminBundle}}),
        {stallBudgetMs: 120_000},
      )
      // The fault suite's view of "the control plane": the CLI machine runs its commands; its
      // direct reads go to a live etcd member (one may be killed) with the admin's certificate.
      const cp: TestControlPlane = {
        sandbox: {dir: cli.dir, env: cli.env, cleanup: () => {}},
        stateDir,
        configFile: join(cli.dir, 'ec.config.yaml'),
        get etcdEndpoint() {
          return live.value
        },
        placementUrl,
        credentialsFile: adminBundle,
        clientTls: {credentials: adminBundle},
        env: cli.env,
        ec: cli.ec,
        async stop() {
          const down = await controllerEc(['down', '--purge', '--json'])
          for (const step of cleanupAll.reverse()) await step()
          if (down.code !== 0) throw new Error(`ec down failed (exit ${down.code}):\n${down.stdout}\n${down.stderr}`)
        },
      }
      faults = FaultCluster.attach(cp, store, {hosts: ADDRESSES.length, vcpusPerHost: options.vcpusPerHost}, imageDir)
      const cluster = new TestCluster(controller, members, placementUrl, adminBundle, machines, cli, faults, live, image)
      await store.list()
      for (const name of machines.keys()) await cluster.startAgent(name)
      return cluster
    } catch (error) {
      if (faults) {
        await faults.stop().catch(() => {})
        throw error
      }

      return fail(error)
    }
  }

  /** Start (or start again) the agent of a compute machine, with its own bundle and state directory. */
  async startAgent(name: string, readyLine?: string): Promise<RunningAgent> {
    const machine = this.machines.get(name)!
    const agent = await startAgent(machine.env, name, join(machine.dir, 'state'), 180_000, readyLine)
    this.agents.set(name, agent)
    return agent
  }

  /**
   * `count` creates of the flavor `one` all at once, through the code `ec
   * instance create --no-wait` runs (src/scheduling/create.ts) with the CLI
   * machine's bundle and config, from this process: so many CLI processes
   * starting at once would measure Node's start-up on a loaded machine, not
   * the control plane's concurrency. Each outcome's code is the exit code the
   * CLI would have ended with.
   */
  async createAtOnce(prefix: string, count: number): Promise<CreateOutcome[]> {
    const spec = buildSpec({flavor: 'one', image: 'base', numaNodes: 1}, {flavors: {one: FLAVOR}, images: {base: {path: this.image}}}, this.cli.dir)
    const tls = {credentials: this.cli.bundle}
    const store = new InstanceStore(new EtcdTransport({endpoints: this.members.map((m) => m.endpoint), prefix: '/ec', timeoutMs: 15_000, tls}))
    const scheduler = new PlacementScheduler({
      url: [this.placementUrl],
      token: 'admin',
      projectId: 'ec',
      userId: 'ec',
      policy: 'spread',
      candidateLimit: 20,
      claimRounds: 5,
      timeoutMs: 60_000,
      tls,
    })
    try {
      return await Promise.all(
        Array.from({length: count}, async (_, i): Promise<CreateOutcome> => {
          const name = `${prefix}${i}`
          try {
            await createInstance(name, spec, {store, scheduler, policy: 'spread', pendingTimeoutSeconds: 120})
            return {name, code: 0, message: ''}
          } catch (error) {
            return {name, code: isReportable(error) ? exitCodeOf(error) : 1, message: (error as Error).message}
          }
        }),
      )
    } finally {
      await store.transport.close()
      await scheduler.close()
    }
  }

  /** `ec status --json` on the controller. */
  async status(): Promise<{code: number; services: Array<{name: string; pid?: number; healthy: boolean; state: string}>}> {
    const result = await this.controller.ec(['status', '--json'])
    return {code: result.code, services: parseJson<{services: Array<{name: string; pid?: number; healthy: boolean; state: string}>}>(result).services}
  }

  /** The etcd member that leads the cluster now, as its members see it. */
  async leader(): Promise<EtcdMember> {
    for (const member of this.members) {
      const client = new Etcd3(etcd3Options(member.endpoint))
      try {
        const status = await client.maintenance.status()
        if (status.header.member_id === status.leader) return member
      } catch {
        // not answering: ask the next member
      } finally {
        client.close()
      }
    }

    throw new Error('no etcd member says it leads')
  }

  /** kill -9 one etcd member; the suite's own reads move to a member that still runs. */
  async killMember(member: EtcdMember): Promise<void> {
    const pid = (await this.status()).services.find((s) => s.name === member.name)?.pid
    if (!pid) throw new Error(`ec status names no running ${member.name}`)
    process.kill(pid, 'SIGKILL')
    this.live.value = this.members.find((m) => m !== member)!.endpoint
  }

  /** `ec up` again on the controller (it starts what is not running), until every member answers. */
  async restartStopped(timeoutMs = 180_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const up = await this.controller.ec(['up', '--json'])
      if (up.code === 0 && (await this.status()).code === 0) break
      if (Date.now() > deadline) throw new Error(`ec up did not bring the control plane back: exit ${up.code}: ${up.stderr}`)
      await sleep(1000)
    }

    this.live.value = this.members[0].endpoint
  }

  /** Placement's log: every request it served, with its status. */
  placementLog(): string {
    return readFileSync(join(this.controller.stateDir, 'placement', 'placement.log'), 'utf8')
  }

  async stop(): Promise<void> {
    await this.faults.stop()
  }
}

/** A compute host's (with its address) or a user's config: endpoints come from its bundle. */
function machineConfig(vcpusPerHost: number, image: string, address?: string): string {
  return [
    'backends: {metadata: none}',
    'libvirt: {uri: "test:///default"}',
    // A loaded machine answers slowly: waits sized for it, not for an idle one.
    'etcd: {timeoutMs: 15000}',
    'placement: {timeoutMs: 60000, policy: spread}',
    'compute:',
    ...(address ? [`  address: ${address}`] : []),
    '  leaseTtlSeconds: 5',
    '  shutdownGraceSeconds: 5',
    `  resyncSeconds: ${RESYNC_SECONDS}`,
    `  inventory: {VCPU: ${vcpusPerHost}, MEMORY_MB: ${vcpusPerHost * FLAVOR.memoryMb}, DISK_GB: ${vcpusPerHost * FLAVOR.diskGb}}`,
    '  reserved: {MEMORY_MB: 0}',
    '  allocationRatio: {VCPU: 1, MEMORY_MB: 1, DISK_GB: 1}',
    'scheduling: {deleteTimeoutSeconds: 120, pendingTimeoutSeconds: 120}',
    'flavors:',
    `  one: {vcpus: ${FLAVOR.vcpus}, memoryMb: ${FLAVOR.memoryMb}, diskGb: ${FLAVOR.diskGb}}`,
    'images:',
    `  base: {path: ${image}}`,
    '',
  ].join('\n')
}

/** GET url over TLS with these client settings (15 s: a loaded machine answers slowly). */
export function httpsGet(url: string, tls: Parameters<typeof probeHttps>[1]): ReturnType<typeof probeHttps> {
  return probeHttps(url, tls, 15_000)
}

/** Whether one etcd member answers a read made with these client TLS settings. */
export function etcdReads(endpoint: string, tls: Parameters<typeof probeEtcd>[1]): Promise<boolean> {
  return probeEtcd(endpoint, tls, 5000)
}
