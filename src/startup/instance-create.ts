// `ec instance create` without oclif, for scripts: a create's own work (an
// etcd write, a Placement claim, the hand-off) takes less time than loading
// oclif and every plugin's manifest, and the host cannot start the guest
// sooner than the command gets there. bin/run.js hands the command here; this
// serves what it fully understands — one name, the flags below, plugins
// whose hooks it can run (backend-hooks.ts), output that is --json or plain (not a
// terminal's progress display) — through the same code as the oclif command
// (scheduling/create-flow.ts), and answers false for anything else, which
// oclif then runs: --help, a raw request, --dry-run, a flag it does not take,
// a repeated or empty one, a bad choice. Until the first write an error that
// is not one of ec's reportable ones is left to oclif too (nothing was done
// yet); from the first write on, every error is reported here.
import {isatty} from 'node:tty'
import {parseArgs} from 'node:util'

import {openBackend} from '../backends/open.js'
import {isReportable} from '../errors.js'
import {messageOf} from '@ec/plugin-api'
import {parseAmount} from '../input/amount.js'
import {InstanceStore} from '../instances/store.js'
import {colourEnabled} from '../output/colour.js'
import {escapeControlCharacters} from '../output/escape.js'
import {describeInstance} from '../output/instance-view.js'
import {StepTracker} from '../output/step-tracker.js'
import {writeStdout} from '../output/write-stdout.js'
import {createAndFollow, type CreateFlags, createSpecOf, openGroup} from '../scheduling/create-flow.js'
import type {Closable, PlacementPolicy} from '@ec/plugin-api'
import type {BundledHooks} from './backend-hooks.js'
import {type GlobalFlags, openFastPath, reportFailure} from './fast-path.js'

const STRING = {type: 'string'} as const
const STRINGS = {type: 'string', multiple: true} as const
const OPTIONS = {
  flavor: STRING,
  vcpus: STRING,
  memory: STRING,
  disk: STRING,
  image: STRING,
  trait: STRINGS,
  'forbid-trait': STRINGS,
  group: STRING,
  policy: STRING,
  'key-file': STRINGS,
  'user-data': STRING,
  meta: STRINGS,
  publish: {type: 'string', multiple: true, short: 'p'},
  wait: {type: 'boolean'},
  'no-wait': {type: 'boolean'},
  json: {type: 'boolean'},
  config: STRING,
  credentials: STRING,
} as const

const POLICIES: readonly PlacementPolicy[] = ['pack', 'spread']

interface FastCreateFlags extends CreateFlags, GlobalFlags {
  name?: string
  policy?: PlacementPolicy
  wait?: boolean
  json: boolean
}

/** The flags, or undefined when oclif should parse them (and report what is wrong). */
export function parseCreateFlags(args: string[]): FastCreateFlags | undefined {
  let parsed
  try {
    parsed = parseArgs({args, options: OPTIONS, strict: true, allowPositionals: true, tokens: true})
  } catch {
    return undefined
  }

  const single = parsed.tokens.flatMap((t) => (t.kind === 'option' && !('multiple' in OPTIONS[t.name as keyof typeof OPTIONS]) ? [t.name] : []))
  if (new Set(single).size !== single.length) return undefined // oclif refuses a repeated flag
  const values = parsed.values as Record<string, string | string[] | boolean | undefined>
  for (const value of Object.values(values).flat()) if (typeof value === 'string' && value.trim() === '') return undefined
  if (parsed.tokens.some((t) => t.kind === 'option-terminator')) return undefined
  // One name: a raw request (it has '=') and a second positional are oclif's.
  if (parsed.positionals.length > 1 || parsed.positionals[0]?.includes('=')) return undefined
  if (values.wait && values['no-wait']) return undefined
  const policy = values.policy as string | undefined
  if (policy !== undefined && !(POLICIES as readonly string[]).includes(policy)) return undefined
  const amount = (flag: 'vcpus' | 'memory' | 'disk') => {
    const text = values[flag] as string | undefined
    return text === undefined ? undefined : parseAmount(text, `--${flag}`)
  }

  let resources
  try {
    resources = {vcpus: amount('vcpus'), memory: amount('memory'), disk: amount('disk')}
  } catch {
    return undefined // oclif says which
  }

  return {
    ...(values as Omit<FastCreateFlags, 'name' | 'policy' | 'wait' | 'json' | 'vcpus' | 'memory' | 'disk'>),
    ...resources,
    name: parsed.positionals[0],
    policy: policy as PlacementPolicy | undefined,
    wait: values.wait === true ? true : values['no-wait'] === true ? false : undefined,
    json: values.json === true,
  }
}

/**
 * Serve `ec instance create …` (argv after "instance create"); false: let oclif run it.
 * `bundled`: ec's own plugins' hooks, compiled into the same bundle (scripts/bundle-startup.mjs).
 */
export async function runInstanceCreate(root: string, args: string[], env: NodeJS.ProcessEnv = process.env, bundled?: BundledHooks): Promise<boolean> {
  const flags = parseCreateFlags(args)
  if (!flags || env.EC_CONTENT_TYPE !== undefined) return false
  const {json} = flags
  const tty = isatty(1)
  // oclif colours --json on a terminal; a wait that is not --json shows the progress display.
  if (json && colourEnabled({isTTY: tty})) return false
  const wait = flags.wait ?? (tty && !json)
  if (wait && !json) return false

  const opened: Closable[] = []
  let writing = false
  try {
    const fast = await openFastPath(root, flags, json, env, bundled)
    if (!fast) return false
    const {registry, config} = fast
    const {name, spec} = createSpecOf({name: flags.name}, flags, config)
    const transport = await openBackend(registry, config.values, 'transport', {shortLived: true})
    opened.push(transport)
    const store = new InstanceStore(transport)
    const group = await openGroup(store, spec)
    const scheduler = await openBackend(registry, config.values, 'scheduler')
    opened.push(scheduler)
    writing = true
    const record = await createAndFollow(name, spec, {store, group, scheduler, policy: flags.policy, config, wait, tracker: new StepTracker()})
    writeStdout(json ? `${JSON.stringify(record, null, 2)}\n` : `${describeInstance(record)}\n`)
  } catch (error) {
    if (isReportable(error)) {
      reportFailure(error, json)
    } else if (writing) {
      // What oclif prints for an error that is not ec's own.
      process.stderr.write(`Error: ${escapeControlCharacters(messageOf(error))}\n`)
      process.exitCode = 1
    } else {
      return false
    }
  } finally {
    await Promise.all(opened.map((b) => b.close().catch(() => undefined)))
  }

  return true
}
