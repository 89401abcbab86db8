// Placement on MariaDB with several workers (`ec up --database mariadb`), hit
// with concurrent claims on one provider straight through its API: a claim
// that lost a generation race is retried by Placement inside its transaction,
// and at MariaDB's default REPEATABLE READ that retry read usage from the
// transaction's old snapshot and admitted one allocation too many (seen as
// "host-3: VCPU allocated 21 of 20" in the many-hosts test, 12 of 10 here).
// ec runs Placement's connections at READ COMMITTED (src/control-plane/mariadb.ts).
import {expect} from 'chai'
import {randomUUID} from 'node:crypto'

import {type TestControlPlane, startControlPlane} from '../helpers/control-plane.js'
import {freePorts} from '../helpers/ports.js'
import {placementRequest, providers} from '../helpers/placement.js'

const CAPACITY = 10
const CLAIMS_PER_ROUND = 40
const ROUNDS = 8

describe('Placement on MariaDB under concurrent claims', function () {
  this.timeout(600_000)
  let cp: TestControlPlane | undefined

  before(async function () {
    this.timeout(600_000)
    const [mariadbPort] = await freePorts(1)
    // More workers than cores: more claims inside their transactions at once.
    cp = await startControlPlane(['    database: mariadb', '    workers: 6', '  mariadb:', `    port: ${mariadbPort}`].join('\n'))
  })

  after(async function () {
    this.timeout(300_000)
    await cp?.stop()
  })

  const call = (method: 'post' | 'put' | 'delete', path: string, data?: unknown) => placementRequest(method, `${cp!.placementUrl}${path}`, data)

  it(`never admits more than its capacity: ${ROUNDS} rounds of ${CLAIMS_PER_ROUND} claims at once on a provider of ${CAPACITY}`, async () => {
    for (let round = 1; round <= ROUNDS; round++) {
      const uuid = randomUUID()
      expect((await call('post', '/resource_providers', {uuid, name: `race-${round}`})).status).to.equal(200)
      const inventory = await call('put', `/resource_providers/${uuid}/inventories`, {
        resource_provider_generation: 0,
        inventories: {VCPU: {total: CAPACITY}},
      })
      expect(inventory.status, JSON.stringify(inventory.data)).to.equal(200)

      const consumers = Array.from({length: CLAIMS_PER_ROUND}, () => randomUUID())
      const statuses = await Promise.all(
        consumers.map(async (consumer) => {
          const response = await call('put', `/allocations/${consumer}`, {
            allocations: {[uuid]: {resources: {VCPU: 1}}},
            project_id: randomUUID(),
            user_id: randomUUID(),
            consumer_generation: null,
            consumer_type: 'INSTANCE',
          })
          return response.status
        }),
      )
      // Every claim is answered: admitted (204) or refused for capacity or a lost race (409), never a 5xx.
      expect(statuses.filter((s) => s !== 204 && s !== 409), `round ${round}`).to.deep.equal([])
      const usage = (await providers(cp!.placementUrl)).find((p) => p.uuid === uuid)!.usages.VCPU
      const admitted = statuses.filter((s) => s === 204).length
      expect({round, usage, admitted, overCapacity: usage > CAPACITY}).to.deep.equal({round, usage: admitted, admitted, overCapacity: false})
      for (const consumer of consumers) await call('delete', `/allocations/${consumer}`)
    }
  })
})
