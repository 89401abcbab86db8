// Turns what the create flow reports (candidates, claim, notify) and what the
// agent writes to the instance record (accepted … guest) into one promise per
// step, which the progress display waits on in order.
import {EventEmitter} from 'node:events'

import {EcError} from '../errors.js'
import {type InstanceRecord, STEPS, type Step} from '../instances/model.js'

interface Deferred {
  promise: Promise<string | undefined>
  resolve(detail?: string): void
  reject(error: Error): void
  settled: boolean
}

function deferred(): Deferred {
  let resolve!: (detail?: string) => void
  let reject!: (error: Error) => void
  const promise = new Promise<string | undefined>((res, rej) => {
    resolve = res
    reject = rej
  })
  promise.catch(() => undefined) // observed by whoever awaits the step
  return {promise, resolve, reject, settled: false}
}

export class StepTracker extends EventEmitter<{progress: [Step, number | undefined, string | undefined]}> {
  private readonly steps = new Map<Step, Deferred>(STEPS.map((s) => [s, deferred()]))
  readonly settled: Promise<InstanceRecord>
  private settle!: {resolve(record: InstanceRecord): void; reject(error: Error): void}

  constructor() {
    super()
    this.settled = new Promise((resolve, reject) => {
      this.settle = {resolve, reject}
    })
    this.settled.catch(() => undefined)
  }

  done(step: Step): Promise<string | undefined> {
    return this.steps.get(step)!.promise
  }

  /** From the create flow, for the steps it runs itself. */
  local(step: Step, status: 'started' | 'finished', detail?: string): void {
    if (status === 'finished') this.finish(step, detail)
    else this.emit('progress', step, undefined, detail)
  }

  /** From each version of the record the agent writes. */
  record(record: InstanceRecord): void {
    const reached = record.step ? STEPS.indexOf(record.step) : -1
    for (const [index, step] of STEPS.entries()) {
      const times = record.steps[step]
      if (times?.finished || index < reached || record.state === 'ACTIVE') this.finish(step)
      else if (times && index === reached) this.emit('progress', step, times.percent, times.message)
    }

    if (record.state === 'ACTIVE') this.settle.resolve(record)
    if (record.state === 'ERROR') {
      const at = record.error?.step ? ` at ${record.error.step}` : ''
      this.abort(new EcError('instanceFailed', `${record.name} failed${at}: ${record.error?.reason ?? 'no reason recorded'}`), record.error?.step)
    }
  }

  /** Fail the given step (or the first unfinished one) and every later one. */
  abort(error: Error, at?: Step): void {
    const first = at && !this.steps.get(at)!.settled ? at : STEPS.find((s) => !this.steps.get(s)!.settled)
    for (const step of STEPS.slice(first ? STEPS.indexOf(first) : STEPS.length)) {
      const d = this.steps.get(step)!
      if (!d.settled) {
        d.settled = true
        d.reject(error)
      }
    }

    this.settle.reject(error)
  }

  private finish(step: Step, detail?: string): void {
    const d = this.steps.get(step)!
    if (d.settled) return
    d.settled = true
    d.resolve(detail)
  }
}
