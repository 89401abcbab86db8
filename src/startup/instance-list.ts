// `ec instance list` without oclif. Loading oclif, its config and every
// plugin's manifest costs a list several times what reading 1,000 records
// does, and scripts run it often. bin/run.js hands the command here; this
// serves the invocations it fully understands — the flags of
// src/commands/instance/list.ts, plugins whose hooks it can run (backend-hooks.ts) —
// exactly as the oclif command would, and answers false for anything else
// (--help, an unknown or repeated flag, a bad value, EC_CONTENT_TYPE, --json
// on a terminal, which oclif colours), which oclif then runs. An error that
// is not one of ec's reportable ones is left to oclif too: a list only reads,
// so asking again costs time, never state.
import {isatty} from 'node:tty'
import {parseArgs} from 'node:util'

import {openBackend} from '../backends/open.js'
import {isReportable} from '../errors.js'
import {INSTANCE_STATES} from '../instances/model.js'
import {InstanceStore} from '../instances/store.js'
import {colourEnabled} from '../output/colour.js'
import {writeStdout} from '../output/write-stdout.js'
import {INSTANCE_LISTING, selectInstances} from '../output/instance-view.js'
import {planListing, renderListing, sortRows} from '../output/listing-plan.js'
import type {Closable} from '@ec/plugin-api'
import type {BundledHooks} from './backend-hooks.js'
import {openFastPath, reportFailure} from './fast-path.js'

const OPTIONS = {
  json: {type: 'boolean'},
  host: {type: 'string'},
  state: {type: 'string'},
  columns: {type: 'string'},
  sort: {type: 'string'},
  quiet: {type: 'boolean', short: 'q'},
  config: {type: 'string'},
  credentials: {type: 'string'},
} as const

interface ListFlags {
  json?: boolean
  host?: string
  state?: string
  columns?: string
  sort?: string
  quiet?: boolean
  config?: string
  credentials?: string
}

/** The flags, or undefined when oclif should parse them (and report what is wrong). */
export function parseListFlags(args: string[]): ListFlags | undefined {
  let parsed
  try {
    parsed = parseArgs({args, options: OPTIONS, strict: true, allowPositionals: false, tokens: true})
  } catch {
    return undefined
  }

  const names = parsed.tokens.filter((t) => t.kind === 'option').map((t) => t.name)
  if (new Set(names).size !== names.length) return undefined // oclif refuses a repeated flag
  const values = parsed.values as ListFlags
  for (const name of ['host', 'state', 'columns', 'sort', 'config', 'credentials'] as const) {
    if (values[name] !== undefined && values[name].trim() === '') return undefined
  }

  if (values.state !== undefined && !(INSTANCE_STATES as readonly string[]).includes(values.state)) return undefined
  return values
}

/**
 * Serve `ec instance list …` (argv after "instance list"); false: let oclif run it.
 * `bundled`: ec's own plugins' hooks, compiled into the same bundle (scripts/bundle-startup.mjs).
 */
export async function runInstanceList(root: string, args: string[], env: NodeJS.ProcessEnv = process.env, bundled?: BundledHooks): Promise<boolean> {
  const flags = parseListFlags(args)
  if (!flags || env.EC_CONTENT_TYPE !== undefined) return false
  const json = flags.json === true
  // Asked of the descriptor: process.stdout would be set up only to answer (writeStdout never uses it).
  const colour = colourEnabled({isTTY: isatty(1)})
  if (json && colour) return false
  const opened: Closable[] = []
  try {
    const plan = planListing(INSTANCE_LISTING, flags)
    const fast = await openFastPath(root, flags, json, env, bundled)
    if (!fast) return false
    const {registry, config} = fast
    const transport = await openBackend(registry, config.values, 'transport', {shortLived: true})
    opened.push(transport)
    const records = (await new InstanceStore(transport).list()).records.map((r) => r.value)
    const rows = sortRows(selectInstances(records, flags), plan)
    if (json) {
      writeStdout(`${JSON.stringify(rows, null, 2)}\n`)
    } else {
      const text = renderListing(rows, plan, colour)
      if (text !== '') writeStdout(`${text}\n`)
    }
  } catch (error) {
    if (!isReportable(error)) return false
    reportFailure(error, json)
  } finally {
    await Promise.all(opened.map((b) => b.close().catch(() => undefined)))
  }

  return true
}
