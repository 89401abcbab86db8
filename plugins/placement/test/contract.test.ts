// The Placement scheduler passes @ec/plugin-api's scheduler contract against
// a real Placement (started by `ec up`): from its modules, and as the build
// bundles it into one file (scripts/bundle-backends.mjs), which is what the
// hook gives when the bundle is in force.
import {schedulerContract} from '@ec/plugin-api/testing'

import {startControlPlane, type TestControlPlane} from '../../../test/helpers/control-plane.js'
import {PlacementScheduler} from '../src/scheduler.js'
import {settingsFor} from './settings.js'

const bundled = (await import(new URL('../dist/scheduler.bundle.mjs', import.meta.url).href)) as {PlacementScheduler: typeof PlacementScheduler}

describe('Placement scheduler, conformance', function () {
  this.timeout(120_000)
  let cp: TestControlPlane | undefined
  before(async () => {
    cp = await startControlPlane()
  })
  after(async () => cp?.stop())

  for (const [name, Scheduler] of [
    ['placement', PlacementScheduler],
    ['placement (bundled)', bundled.PlacementScheduler],
  ] as const) {
    schedulerContract(name, {
      async create() {
        return new Scheduler(settingsFor(cp!.placementUrl))
      },
      timeoutMs: 90_000,
    })
  }
})
