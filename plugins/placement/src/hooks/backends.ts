// Announces the Placement scheduler to ec; the HTTP client loads lazily.
import {type BackendDescriptor, defineBackend} from '@ec/plugin-api'

import {placementSection} from '../config.js'

export default async function backends(): Promise<BackendDescriptor[]> {
  return [
    defineBackend({
      kind: 'scheduler',
      name: 'placement',
      description: 'OpenStack Placement: allocation candidates, atomic claims, host providers',
      config: placementSection,
      async create({section}) {
        const {PlacementScheduler} = await import('../scheduler.js')
        return new PlacementScheduler(section)
      },
    }),
  ]
}
