// `ec instance create --wait`: a Listr2 task list of the real steps, each
// finished by what the create flow or the agent reports. On a TTY it redraws
// in place; otherwise it prints plain timestamped lines.
import {Listr, PRESET_TIMER, PRESET_TIMESTAMP} from 'listr2'

import {EcError} from '../errors.js'
import {keys} from '../instances/keys.js'
import {type InstanceRecord, STEPS, type Step} from '../instances/model.js'
import type {InstanceStore, Versioned} from '../instances/store.js'
import {STEP_LABELS} from './step-labels.js'
import type {StepTracker} from './step-tracker.js'

export {STEP_LABELS} from './step-labels.js'

export function progressDisplay(tracker: StepTracker, tty: boolean): Listr {
  return new Listr(
    STEPS.map((step) => ({
      title: STEP_LABELS[step],
      task: async (_: unknown, task: {title: string}) => {
        const show = (at: Step, percent?: number, message?: string) => {
          if (at !== step) return
          const extra = [percent === undefined ? undefined : `${Math.round(percent)}%`, message].filter(Boolean).join(' ')
          task.title = extra ? `${STEP_LABELS[step]} (${extra})` : STEP_LABELS[step]
        }

        tracker.on('progress', show)
        try {
          const detail = await tracker.done(step)
          task.title = detail ? `${STEP_LABELS[step]}: ${detail}` : STEP_LABELS[step]
        } finally {
          tracker.off('progress', show)
        }
      },
    })),
    {
      concurrent: false,
      exitOnError: true,
      renderer: 'default',
      rendererOptions: {timer: PRESET_TIMER, collapseErrors: false},
      fallbackRenderer: 'simple',
      fallbackRendererCondition: !tty,
      fallbackRendererOptions: {timestamp: PRESET_TIMESTAMP},
    },
  )
}

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
