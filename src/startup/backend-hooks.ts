// The `ec-backends` hooks of ec's own plugins and of those the user installed
// or linked (`ec plugins install|link`), found and run without oclif, for the
// fast paths in this directory. oclif would answer the same from the same
// package.json files; this reads only those. Whenever the answer could
// differ — nested plugins, a plugin that brings commands of its own, a user
// plugin that takes a core plugin's name, a package.json that is not there or
// a hook declared in a form this does not read — it answers undefined and
// the caller lets oclif run the command.
import {existsSync, readFileSync, realpathSync} from 'node:fs'
import {dirname, join, relative, resolve} from 'node:path'
import {pathToFileURL} from 'node:url'

import type {HookAnswers} from '../plugins/registry.js'
import {BACKENDS_HOOK, inputsUnchanged} from '@ec/plugin-api'

interface PackageJson {
  name?: string
  oclif?: {plugins?: unknown[]; hooks?: Record<string, unknown>; commands?: unknown}
}

function readJson(file: string): PackageJson | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PackageJson
  } catch {
    return undefined
  }
}

export interface BackendHook {
  plugin: string
  /** oclif's: `core` (shipped with ec), `user` (installed), `link`. */
  type: 'core' | 'user' | 'link'
  file: string
}

/** An entry of the user's plugin list (oclif's `<data>/package.json`): a name, or {name, type, root?}. */
interface UserPluginEntry {
  name?: unknown
  type?: unknown
  root?: unknown
}

/** The hooks oclif would run for `ec-backends`, or undefined where only oclif can tell. */
export function backendHooks(root: string, dataDir: string): BackendHook[] | undefined {
  const rootJson = readJson(join(root, 'package.json'))
  if (!rootJson?.oclif) return undefined
  const hooks: BackendHook[] = []
  const add = (pjson: PackageJson, dir: string, type: BackendHook['type']): boolean => {
    const declared = pjson.oclif?.hooks?.[BACKENDS_HOOK]
    if (declared === undefined) return true
    const files = Array.isArray(declared) ? declared : [declared]
    if (!files.every((f) => typeof f === 'string')) return false
    for (const file of files as string[]) hooks.push({plugin: pjson.name ?? dir, type, file: resolve(dir, file)})
    return true
  }

  if (!add(rootJson, root, 'core')) return undefined
  const core = new Set<string>([rootJson.name ?? ''])
  for (const name of rootJson.oclif.plugins ?? []) {
    if (typeof name !== 'string') return undefined
    core.add(name)
    const pjsonFile = packageJsonOf(name, root)
    const pjson = pjsonFile ? readJson(pjsonFile) : undefined
    if (!pjsonFile || !pjson || (pjson.oclif?.plugins && pjson.oclif.plugins.length > 0)) return undefined
    if (!add(pjson, dirname(pjsonFile), 'core')) return undefined
  }

  // oclif loads these first: one named as a core plugin would replace it.
  const userFile = join(dataDir, 'package.json')
  const user = readJson(userFile)
  if (!user && existsSync(userFile)) return undefined // oclif warns of it
  for (const entry of (user?.oclif?.plugins ?? []) as Array<string | UserPluginEntry>) {
    // oclif loads only entries typed user or link from here.
    if (typeof entry !== 'object' || entry === null || (entry.type !== 'user' && entry.type !== 'link')) continue
    const {name, type, root: linked} = entry
    if (typeof name !== 'string' || core.has(name)) return undefined
    const pjsonFile = type === 'link' ? (typeof linked === 'string' ? join(linked, 'package.json') : undefined) : packageJsonOf(name, dataDir)
    const pjson = pjsonFile ? readJson(pjsonFile) : undefined
    if (!pjsonFile || !pjson || (pjson.oclif?.plugins && pjson.oclif.plugins.length > 0) || pjson.oclif?.commands !== undefined) return undefined
    if (!add(pjson, dirname(pjsonFile), type)) return undefined
  }

  return hooks
}

/** A package's package.json as Node would find the package from `dir` (its exports may not list package.json). */
function packageJsonOf(name: string, dir: string): string | undefined {
  for (let at = dir; ; at = dirname(at)) {
    const file = join(at, 'node_modules', name, 'package.json')
    // One system call, where the JavaScript realpath looks at each directory on the way.
    if (existsSync(file)) return realpathSync.native(file)
    if (dirname(at) === at) return undefined
  }
}

/**
 * Hooks compiled into a bundle with the plugin files they come from
 * (scripts/bundle-startup.mjs): hook and input files by path relative to ec's
 * root, each input with the SHA-256 of its contents when it was bundled.
 */
export interface BundledHooks {
  hooks: Record<string, unknown>
  inputs: Record<string, string>
}

/** The bundled hooks, while every plugin file they were built from still holds what it held then. */
export function bundledHooksInForce(root: string, bundled: BundledHooks | undefined): Record<string, unknown> | undefined {
  if (!bundled || !inputsUnchanged(bundled.inputs, root)) return undefined
  return bundled.hooks
}

/** The part of oclif's Config a hook run without oclif gets (as `this.config` and its options' `config`). */
export interface HookConfig {
  root: string
  name: string
  bin: string
  version: string
  dataDir: string
  cacheDir: string
}

/**
 * What oclif gives a hook as `this`, as far as it goes without oclif: error()
 * and exit() fail the hook (its plugin is then reported by name), warn() and
 * log() print, debug() is quiet.
 */
function hookContext(config: HookConfig | undefined): object {
  return {
    config,
    debug() {},
    error(input: string | Error): never {
      throw input instanceof Error ? input : new Error(input)
    },
    exit(code = 0): never {
      throw new Error(`EEXIT: ${code}`)
    },
    log(...args: unknown[]) {
      process.stdout.write(`${args.join(' ')}\n`)
    },
    warn(input: string | Error) {
      process.stderr.write(`Warning: ${input instanceof Error ? input.message : input}\n`)
    },
  }
}

/**
 * Run the hooks concurrently, as oclif does; answers in the plugins' order.
 * A hook whose file (relative to `root`) is in `bundled` runs from there.
 */
export async function runBackendHooks(hooks: BackendHook[], root?: string, bundled?: Record<string, unknown>, config?: HookConfig): Promise<HookAnswers> {
  const context = hookContext(config)
  const settled = await Promise.allSettled(
    hooks.map(async ({file}) => {
      const inBundle = root && bundled ? bundled[relative(root, file)] : undefined
      const module = inBundle ? {default: inBundle} : ((await import(pathToFileURL(file).href)) as {default?: unknown})
      const hook = typeof module.default === 'function' ? module.default : module
      if (typeof hook !== 'function') throw new Error(`${file} exports no hook function`)
      // ec's own hooks use neither; a user's plugin may.
      return (hook as (options: object) => unknown).call(context, {config, context})
    }),
  )
  const answers: HookAnswers = {successes: [], failures: []}
  for (const [i, outcome] of settled.entries()) {
    const plugin = {name: hooks[i].plugin, type: hooks[i].type}
    if (outcome.status === 'fulfilled') answers.successes.push({plugin, result: outcome.value})
    else answers.failures.push({plugin, error: outcome.reason as Error})
  }

  return answers
}
