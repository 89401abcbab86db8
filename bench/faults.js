#!/usr/bin/env node
// bench/faults: every fault scenario of the fault suite (test/faults/) with
// BENCH_CREATES (60) concurrent creates each, on a fresh cluster of three
// agents (libvirt's test driver) over a real etcd and Placement. Prints one
// JSON line per scenario: attempted, ACTIVE, ERROR by reason, failed creates
// by exit code, phantom failures, stuck, over-committed, guests without
// allocation, orphans, whether `ec audit` agrees, and the time from the end of
// the fault until every instance settled, and from the start of the burst —
// the latter beside the same burst with no fault, measured first in the same
// run (totalRatio). Target (issue 8):
// 0 lost, 0 over-committed, 0 phantom, 0 orphans in every scenario.
import {register} from 'tsx/esm/api'

register()
const {FaultCluster} = await import('../test/faults/harness.ts')
const {runScenario, SCENARIOS} = await import('../test/faults/scenarios.ts')

const CREATES = Number(process.env.BENCH_CREATES ?? 60)
const only = process.env.BENCH_SCENARIO
const baseline = {name: 'no fault (baseline)', trueFailures: [], trueErrors: [], inject: (_cluster, burst) => burst}
let baselineMs

for (const scenario of [baseline, ...SCENARIOS.filter((s) => !only || s.name.includes(only))]) {
  // 60 one-VCPU guests fit on three hosts of 24 VCPU: a failed create is never for want of room.
  const cluster = await FaultCluster.start({hosts: 3, vcpusPerHost: 24, agentEnv: scenario.agentEnv})
  try {
    const {figures, details} = await runScenario(cluster, scenario, CREATES)
    baselineMs ??= figures.totalMs
    const totalRatio = Math.round((figures.totalMs / baselineMs) * 100) / 100
    console.log(JSON.stringify({...figures, baselineTotalMs: baselineMs, totalRatio, problems: details}))
  } catch (error) {
    console.log(JSON.stringify({scenario: scenario.name, attempted: CREATES, failedToRun: error.message}))
  } finally {
    await cluster.stop()
  }
}
