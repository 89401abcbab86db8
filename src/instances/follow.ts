// `ec instance create --wait` follows the record it scheduled: every version
// the agent writes goes to the StepTracker, until ACTIVE or ERROR, a timeout,
// or the host's agent going away. Apart from the progress display
// (output/create-progress.ts) so the create fast path follows without Listr.
import {EcError} from '../errors.js'
import type {StepTracker} from '../output/step-tracker.js'
import {keys} from './keys.js'
import type {InstanceRecord} from './model.js'
import type {InstanceStore, Versioned} from './store.js'

export interface FollowOptions {
  timeoutSeconds: number
  /** How often the host's liveness key is checked while waiting. */
  hostCheckMs?: number
}

/** Feed the tracker every version of the record until it is ACTIVE or ERROR, or waiting stops making sense. */
export async function followInstance(
  store: InstanceStore,
  start: Versioned<InstanceRecord>,
  tracker: StepTracker,
  options: FollowOptions,
): Promise<InstanceRecord> {
  const {id, name} = start.value
  const watch = await store.transport.watch(keys.instance(id), {
    afterRevision: start.modRevision,
    onEvents(events) {
      for (const event of events) {
        if (event.type === 'put') tracker.record(JSON.parse(event.kv.value) as InstanceRecord)
        else tracker.abort(new EcError('conflict', `${name} was deleted while it was being built`))
      }
    },
    onError: (error) => tracker.abort(error),
  })
  tracker.record(start.value)
  const timeout = setTimeout(() => {
    tracker.abort(
      new EcError(
        'unavailable',
        `${name} is not ACTIVE after ${options.timeoutSeconds} s; it keeps building — follow it with "ec instance show ${name}"`,
      ),
    )
  }, options.timeoutSeconds * 1000)
  const hostCheck = setInterval(async () => {
    const host = start.value.host
    if (host && !(await store.transport.get(keys.alive(host.id)).catch(() => true))) {
      tracker.abort(
        new EcError(
          'unavailable',
          `host ${host.name} stopped answering while building ${name}; the build resumes when its agent returns (ec instance show ${name})`,
        ),
      )
    }
  }, options.hostCheckMs ?? 2000)
  try {
    return await tracker.settled
  } finally {
    clearTimeout(timeout)
    clearInterval(hostCheck)
    await watch.close().catch(() => undefined)
  }
}
