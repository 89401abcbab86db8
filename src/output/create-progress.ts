// `ec instance create --wait`: a Listr2 task list of the real steps, each
// finished by what the create flow or the agent reports. On a TTY it redraws
// in place; otherwise it prints plain timestamped lines.
import {Listr, PRESET_TIMER, PRESET_TIMESTAMP} from 'listr2'

import {STEPS, type Step} from '../instances/model.js'
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
