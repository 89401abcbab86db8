// The Placement scheduler passes @ec/plugin-api's scheduler contract against
// a real Placement (started by `ec up`).
import {schedulerContract} from '@ec/plugin-api/testing'

import {credentialsFor} from '../../../test/helpers/credentials.js'
import {startControlPlane, type TestControlPlane} from '../../../test/helpers/control-plane.js'
import {PlacementScheduler} from '../src/scheduler.js'

describe('Placement scheduler, conformance', function () {
  this.timeout(120_000)
  let cp: TestControlPlane | undefined
  before(async () => {
    cp = await startControlPlane()
  })
  after(async () => cp?.stop())

  schedulerContract('placement', {
    async create() {
      const url = cp!.placementUrl
      const credentials = credentialsFor(url)
      return new PlacementScheduler({
        url,
        ...(credentials ? {tls: {credentials}} : {}),
        token: 'admin',
        projectId: 'ec-test',
        userId: 'ec-test',
        policy: 'pack',
        candidateLimit: 20,
        claimRounds: 5,
        timeoutMs: 10_000,
      })
    },
    timeoutMs: 90_000,
  })
})
