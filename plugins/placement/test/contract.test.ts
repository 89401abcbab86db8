// The Placement scheduler passes @ec/plugin-api's scheduler contract against
// a real Placement (started by `ec up`).
import {schedulerContract} from '@ec/plugin-api/testing'

import {startControlPlane, type TestControlPlane} from '../../../test/helpers/control-plane.js'
import {PlacementScheduler} from '../src/scheduler.js'
import {settingsFor} from './settings.js'

describe('Placement scheduler, conformance', function () {
  this.timeout(120_000)
  let cp: TestControlPlane | undefined
  before(async () => {
    cp = await startControlPlane()
  })
  after(async () => cp?.stop())

  schedulerContract('placement', {
    async create() {
      return new PlacementScheduler(settingsFor(cp!.placementUrl))
    },
    timeoutMs: 90_000,
  })
})
