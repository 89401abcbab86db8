import {Args} from '@oclif/core'

import {EcCommand} from '../../ec-command.js'
import {EcError} from '../../errors.js'
import {type InstanceChange, InstanceChanges} from '../../instances/changes.js'
import {keys} from '../../instances/keys.js'
import {InstanceStore} from '../../instances/store.js'
import {paintState} from '../../output/colour.js'
import {STEP_LABELS} from '../../output/step-labels.js'

export default class InstanceWatch extends EcCommand<typeof InstanceWatch> {
  static override summary = 'Follow state and step changes of instances live, until interrupted (Ctrl-C).'
  static override description = `With no REF, every instance, including ones created while it runs. A REF (id or name) that does not exist yet is followed once it appears. It first prints what exists now (event "existing"), then one line per change: "created", "changed" (state, step, progress, host, address or error moved) and "deleted".
With --json, one JSON object per line: {"event", "at", "id", "name", "state", "step", "percent", "message", "host", "address", "error"} (absent fields left out).`
  static override examples = [
    '<%= config.bin %> instance watch',
    '<%= config.bin %> instance watch web1 web2',
    '<%= config.bin %> instance watch --json | jq -c \'select(.state == "ERROR")\'',
  ]
  static override strict = false
  static override enableJsonFlag = true
  static override args = {ref: Args.string({description: 'Instance ids or names; default all.'})}

  async run(): Promise<void> {
    const refs = new Set(this.positionals)
    const wanted = (c: InstanceChange) => refs.size === 0 || refs.has(c.id) || refs.has(c.name)
    const json = this.jsonEnabled()
    const print = (c: InstanceChange) => {
      if (wanted(c)) process.stdout.write(`${json ? JSON.stringify(c) : describeChange(c)}\n`)
    }

    const config = await this.effectiveConfig()
    const transport = await this.backend(config, 'transport')
    const store = new InstanceStore(transport)
    const changes = new InstanceChanges()
    const {records, revision} = await store.list()
    const present = changes.snapshot(records.map((r) => r.value))
    for (const ref of refs) {
      // Straight to stderr: oclif mutes its own stderr helpers under --json.
      if (!present.some((c) => c.id === ref || c.name === ref)) process.stderr.write(`Warning: no instance ${ref} yet; watching for one\n`)
    }

    for (const c of present) print(c)
    let failed: ((error: Error) => void) | undefined
    const stopped = new Promise<void>((resolve, reject) => {
      failed = reject
      process.once('SIGINT', () => resolve())
      process.once('SIGTERM', () => resolve())
    })
    await transport.watch(keys.instances(), {
      afterRevision: revision,
      onEvents(events) {
        for (const event of events) {
          const change = changes.apply(event)
          if (change) print(change)
        }
      },
      onError(error) {
        failed?.(new EcError('unavailable', `the watch on instances stopped: ${error.message}`, {cause: error}))
      },
    })
    await stopped // the watch is closed with the transport in finally()
  }
}

function describeChange(c: InstanceChange): string {
  if (c.event === 'deleted') return `${c.at}  ${c.name}  deleted`
  const step = c.step ? STEP_LABELS[c.step] : undefined
  const progress = [c.percent === undefined ? undefined : `${Math.round(c.percent)}%`, c.message].filter(Boolean).join(' ')
  const parts = [
    c.at,
    c.name,
    paintState(c.state ?? '-'),
    step && c.state !== 'ACTIVE' ? (progress ? `${step} (${progress})` : step) : undefined,
    c.host ? `on ${c.host}` : undefined,
    c.address,
    c.error ? `error: ${c.error}` : undefined,
  ]
  return parts.filter(Boolean).join('  ')
}
