// The fault suite: for each fault, a fresh cluster (real etcd, real Placement,
// three real agents on libvirt's test driver), a burst of concurrent creates
// and deletes with the fault injected mid-way, then the invariants: nothing
// over-committed (counting the guests the hosts run), no guest without its
// allocation, nothing stuck, no phantom failure, no orphan, and `ec audit`
// agrees. Every scenario cleans up after itself, even when it fails.
import {expect} from 'chai'

import {FaultCluster} from './harness.js'
import {runScenario, SCENARIOS} from './scenarios.js'

const CREATES = Number(process.env.EC_FAULT_CREATES ?? 18)

describe('faults: no over-commit, no lost assignment, no phantom error', function () {
  this.timeout(600_000)
  let cluster: FaultCluster | undefined

  afterEach(async () => {
    await cluster?.stop()
    cluster = undefined
  })

  for (const scenario of SCENARIOS) {
    it(scenario.name, async () => {
      cluster = await FaultCluster.start({hosts: 3, vcpusPerHost: 10, agentEnv: scenario.agentEnv})
      const {figures, details} = await runScenario(cluster, scenario, CREATES)
      expect(details, `${JSON.stringify(figures)}\n${cluster.agentWarnings()}`).to.deep.equal([])
      expect(figures.active, 'instances that ran through the fault').to.be.greaterThan(0)
    })
  }
})
