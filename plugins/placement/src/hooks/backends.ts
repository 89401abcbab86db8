// Announces the Placement scheduler to ec; the HTTP client loads lazily.
import type {BackendDescriptor} from 'ec/plugins'

import {placementSection, type PlacementSettings} from '../config.js'

export default async function backends(): Promise<BackendDescriptor[]> {
  return [
    {
      kind: 'scheduler',
      name: 'placement',
      description: 'OpenStack Placement: allocation candidates, atomic claims, host providers',
      config: placementSection,
      async create(context) {
        const {PlacementScheduler} = await import('../scheduler.js')
        return new PlacementScheduler(context.section as unknown as PlacementSettings)
      },
    },
  ]
}
