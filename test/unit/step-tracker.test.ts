import {expect} from 'chai'

import type {InstanceRecord} from '../../src/instances/model.js'
import {StepTracker} from '../../src/output/step-tracker.js'

const base: InstanceRecord = {
  id: 'id',
  name: 'web1',
  state: 'BUILDING',
  spec: {vcpus: 1, memoryMb: 1, diskGb: 1, resources: {}, requiredTraits: [], forbiddenTraits: [], memberOf: [], image: {ref: 'x'}, publicKeys: [], meta: {}},
  steps: {},
  buildAttempts: 1,
  createdAt: '',
  updatedAt: '',
}

describe('create progress step tracker', () => {
  it('finishes local steps, then steps the agent has moved past, then all on ACTIVE', async () => {
    const tracker = new StepTracker()
    tracker.local('candidates', 'finished', '2 hosts')
    expect(await tracker.done('candidates')).to.equal('2 hosts')
    const progress: Array<[string, number | undefined]> = []
    tracker.on('progress', (step, percent) => progress.push([step, percent]))
    tracker.record({...base, step: 'disk', steps: {image: {started: 't', finished: 't'}, disk: {started: 't', percent: 40}}})
    await tracker.done('image')
    await tracker.done('accepted') // an earlier step the record passed
    expect(progress).to.deep.equal([['disk', 40]])
    tracker.record({...base, state: 'ACTIVE', step: 'guest'})
    expect((await tracker.settled).state).to.equal('ACTIVE')
    await tracker.done('guest')
  })

  it('fails the step an ERROR names, and every later one, with the reason and exit reason instanceFailed', async () => {
    const tracker = new StepTracker()
    tracker.record({...base, step: 'image', steps: {image: {started: 't'}}})
    tracker.record({...base, state: 'ERROR', step: 'image', error: {reason: 'image 404', step: 'image', at: 't'}})
    for (const step of ['image', 'guest'] as const) {
      const error = await tracker.done(step).then(() => undefined, (e: Error) => e)
      expect(error?.message).to.equal('web1 failed at image: image 404')
    }

    const settled = await tracker.settled.then(() => undefined, (e: Error & {reason?: string}) => e)
    expect(settled?.reason).to.equal('instanceFailed')
  })
})
