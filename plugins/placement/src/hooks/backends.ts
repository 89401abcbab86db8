// Announces the Placement scheduler to ec; the HTTP client loads lazily, as
// one bundled file when the build made one (scripts/bundle-backends.mjs).
import {type BackendDescriptor, defineBackend, importBundled} from '@ec/plugin-api'

import {placementSection} from '../config.js'

export default async function backends(): Promise<BackendDescriptor[]> {
  return [
    defineBackend({
      kind: 'scheduler',
      name: 'placement',
      description: 'OpenStack Placement: allocation candidates, atomic claims, host providers',
      config: placementSection,
      async create({section}) {
        const {PlacementScheduler} = await importBundled(new URL('../scheduler.bundle.mjs', import.meta.url), () => import('../scheduler.js'))
        return new PlacementScheduler(section)
      },
    }),
  ]
}
