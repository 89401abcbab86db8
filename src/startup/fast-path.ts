// What the commands bin/run.js serves without oclif (instance-list.ts,
// instance-create.ts) share: the backend registry from the plugins' hooks, the
// effective config as EcCommand would load it, and an error reported as
// EcCommand.catch reports it.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {type EffectiveConfig, loadConfig, type Override} from '../config/load.js'
import {exitCodeOf, type ReportableError} from '../errors.js'
import {escapeControlCharacters} from '../output/escape.js'
import {writeStdout} from '../output/write-stdout.js'
import {BackendRegistry} from '../plugins/registry.js'
import {bundledHooksInForce, type BundledHooks, backendHooks, runBackendHooks} from './backend-hooks.js'
import {dirs} from './dirs.js'

/** The global flags every ec command takes. */
export interface GlobalFlags {
  config?: string
  credentials?: string
}

/**
 * The registry and config, or undefined when only oclif can tell which
 * plugins answer (backend-hooks.ts). Registry problems go to stderr as
 * warnings, except under --json, as the list always did.
 */
export async function openFastPath(
  root: string,
  flags: GlobalFlags,
  json: boolean,
  env: NodeJS.ProcessEnv,
  bundled: BundledHooks | undefined,
): Promise<{registry: BackendRegistry; config: EffectiveConfig} | undefined> {
  const {cacheDir, dataDir} = dirs(env)
  const hooks = backendHooks(root, dataDir)
  if (!hooks) return undefined
  // ec's version is read only when a hook asks for it: ec's own hooks never do.
  const hookConfig = {root, name: 'ec', bin: 'ec', dataDir, cacheDir, get version() { return packageVersion(root) }}
  const registry = BackendRegistry.fromHookAnswers(await runBackendHooks(hooks, root, bundledHooksInForce(root, bundled), hookConfig))
  if (!json) for (const problem of registry.problems) process.stderr.write(`Warning: ${escapeControlCharacters(problem)}\n`)
  const overrides: Override[] = flags.credentials
    ? [{path: ['credentials'], value: flags.credentials, origin: {kind: 'flag', flag: '--credentials'}}]
    : []
  const config = await loadConfig({sections: registry.configSections().map((s) => s.section), configFile: flags.config, overrides, cacheDir})
  return {registry, config}
}

/** ec's version, as its package.json says. */
function packageVersion(root: string): string {
  try {
    return String((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {version?: unknown}).version ?? '')
  } catch {
    return ''
  }
}

/** As EcCommand.catch: a JSON error document under --json, else one line (and its details) on stderr; the exit code set. */
export function reportFailure(error: ReportableError, json: boolean): void {
  const exitCode = exitCodeOf(error)
  const message = escapeControlCharacters(error.message)
  if (json) {
    writeStdout(`${JSON.stringify({error: {reason: error.reason, message, exitCode}}, null, 2)}\n`)
  } else {
    process.stderr.write(`Error: ${message}\n`)
    if (error.details) process.stderr.write(`${error.details}\n`)
  }

  process.exitCode = exitCode
}
