// The faults, each injected while a burst of creates (and deletes) runs, and
// what counts as a true failure under each. Shared by the fault suite and
// bench/faults.ts.
import {setTimeout as sleep} from 'node:timers/promises'

import {type CreateOutcome, type FaultCluster, RESYNC_SECONDS} from './harness.js'

export interface Scenario {
  name: string
  /** Exit codes a create may fail with under this fault, for a true reason. */
  trueFailures: number[]
  /** ERROR reasons that are true under this fault. */
  trueErrors: RegExp[]
  /** Environment for the agents while the fault is armed. */
  agentEnv?: NodeJS.ProcessEnv
  /** Inject the fault while `burst` runs; resolve once it is over (the service is back). */
  inject(cluster: FaultCluster, burst: Promise<unknown>): Promise<void>
}

/** An agent's test-driver guests live in its process: a crash takes them, which ec must report truly. */
const GUEST_LOST_WITH_AGENT = /its guest disappeared outside ec/
/** A service that does not answer is a true reason to fail, and exit 4 says so. */
const UNAVAILABLE = 4

/** Wait until some creates of the burst have reached the control plane, so the fault lands mid-burst. */
async function midBurst(cluster: FaultCluster): Promise<void> {
  const deadline = Date.now() + 60_000
  while ((await cluster.store.list()).records.length < 3 && Date.now() < deadline) await sleep(100)

}

const BUILD_POINTS = ['accepted', 'image', 'disk', 'define', 'boot', 'active'] as const

export const SCENARIOS: Scenario[] = [
  {
    name: 'cpu saturated',
    trueFailures: [],
    trueErrors: [],
    async inject(cluster, burst) {
      cluster.startBurners()
      try {
        await burst
      } finally {
        cluster.stopBurners()
      }
    },
  },
  {
    name: 'etcd frozen beyond the client deadline',
    trueFailures: [UNAVAILABLE],
    trueErrors: [],
    async inject(cluster) {
      await midBurst(cluster)
      const pid = await cluster.servicePid('etcd')
      process.kill(pid, 'SIGSTOP')
      try {
        await sleep(8000) // the fault's length: longer than the 5 s deadline of every client call
      } finally {
        process.kill(pid, 'SIGCONT')
      }
    },
  },
  {
    name: 'etcd killed and restarted',
    trueFailures: [UNAVAILABLE],
    trueErrors: [],
    async inject(cluster) {
      await midBurst(cluster)
      process.kill(await cluster.servicePid('etcd'), 'SIGKILL')
      await restartControlPlane(cluster)
    },
  },
  {
    name: 'Placement killed and restarted',
    trueFailures: [UNAVAILABLE],
    trueErrors: [],
    async inject(cluster) {
      await midBurst(cluster)
      // gunicorn's master leads its own process group: the workers go with it.
      process.kill(-(await cluster.servicePid('placement')), 'SIGKILL')
      await restartControlPlane(cluster)
    },
  },
  ...BUILD_POINTS.map(
    (point): Scenario => ({
      name: `agents kill -9'd at build point "${point}" and restarted`,
      trueFailures: [],
      trueErrors: [GUEST_LOST_WITH_AGENT],
      agentEnv: {EC_FAILPOINTS: `${point}=crash`},
      async inject(cluster, burst) {
        await burst
        // At least one armed agent must have crashed; then every agent is
        // crashed (an armed survivor too) and restarted unarmed.
        const deadline = Date.now() + 60_000
        while (![...cluster.agents.values()].some((a) => a.child.exitCode !== null || a.child.signalCode !== null)) {
          if (Date.now() > deadline) throw new Error(`no agent reached build point "${point}"`)
          await sleep(100)
        }

        for (const [name, agent] of cluster.agents) {
          await agent.stop('SIGKILL')
          await cluster.startAgent(name)
        }
      },
    }),
  ),
]

async function restartControlPlane(cluster: FaultCluster): Promise<void> {
  const deadline = Date.now() + 60_000
  for (;;) {
    const up = await cluster.ec(['up', '--json'])
    if (up.code === 0) return
    if (Date.now() > deadline) throw new Error(`ec up did not bring the service back: exit ${up.code}: ${up.stderr}`)
    await sleep(500)
  }
}

export interface ScenarioFigures {
  scenario: string
  attempted: number
  active: number
  error: Record<string, number>
  failed: Record<string, number>
  phantom: string[]
  stuck: number
  overCommitted: number
  guestsWithoutAllocation: number
  orphans: number
  badErrors: number
  auditConsistent: boolean
  settleMs: number
  /** From the start of the burst until every instance settled. */
  totalMs: number
}

/**
 * Run one scenario on a fresh cluster: burst, fault, settle within the bound
 * (build time + 2 resyncs, generous for a loaded machine), check, clean up.
 */
export async function runScenario(
  cluster: FaultCluster,
  scenario: Scenario,
  creates: number,
): Promise<{figures: ScenarioFigures; details: string[]}> {
  const started = Date.now()
  const burst = cluster.burst('f', creates, {deleteEvery: 5})
  await scenario.inject(cluster, burst)
  const faultEnded = Date.now()
  const {creates: outcomes, deleted} = await burst
  await cluster.settle(60_000 + 2 * RESYNC_SECONDS * 1000)
  const settleMs = Date.now() - faultEnded
  const totalMs = Date.now() - started
  const violations = await cluster.violations()
  const {active, errors} = await cluster.outcome()
  const audit = await cluster.audit()

  const phantom = outcomes.filter((o) => o.code !== 0 && !scenario.trueFailures.includes(o.code)).map(describe)
  for (const reason of Object.keys(errors)) {
    if (!scenario.trueErrors.some((pattern) => pattern.test(reason))) phantom.push(`ERROR: ${reason}`)
  }

  const survivors = await cluster.store.list()
  for (const name of deleted) {
    if (survivors.records.some((r) => r.value.name === name)) phantom.push(`${name} was deleted but is still there`)
  }

  const failed: Record<string, number> = {}
  for (const o of outcomes) if (o.code !== 0) failed[o.code] = (failed[o.code] ?? 0) + 1
  const figures: ScenarioFigures = {
    scenario: scenario.name,
    attempted: creates,
    active,
    error: errors,
    failed,
    phantom,
    stuck: violations.stuck.length,
    overCommitted: violations.overCommitted.length,
    guestsWithoutAllocation: violations.guestsWithoutAllocation.length,
    orphans: violations.orphans.length,
    badErrors: violations.badErrors.length,
    auditConsistent: audit.code === 0 && audit.report.consistent,
    settleMs,
    totalMs,
  }
  const details = [
    ...violations.stuck,
    ...violations.overCommitted,
    ...violations.guestsWithoutAllocation,
    ...violations.orphans,
    ...violations.badErrors,
    ...phantom,
    ...(figures.auditConsistent ? [] : [`ec audit (exit ${audit.code}): ${JSON.stringify(audit.report.findings)}`]),
  ]
  await cluster.deleteAll()
  return {figures, details}
}

function describe(outcome: CreateOutcome): string {
  return `${outcome.name}: exit ${outcome.code}: ${outcome.message}`
}
