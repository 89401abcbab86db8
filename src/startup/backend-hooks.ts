// The `ec-backends` hooks of ec's own plugins, found and run without oclif,
// for the fast paths in this directory. oclif would answer the same from the
// same package.json files; this reads only those. Whenever the answer could
// differ — plugins the user installed or linked (`ec plugins install|link`),
// nested plugins, a hook declared in a form this does not read — it answers
// undefined and the caller lets oclif run the command.
import {existsSync, readFileSync, realpathSync} from 'node:fs'
import {dirname, join, relative, resolve} from 'node:path'
import {pathToFileURL} from 'node:url'

import type {HookAnswers} from '../plugins/registry.js'
import {BACKENDS_HOOK, inputsUnchanged} from '@ec/plugin-api'

interface PackageJson {
  name?: string
  oclif?: {plugins?: unknown[]; hooks?: Record<string, unknown>}
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
  file: string
}

/** The hooks oclif would run for `ec-backends`, or undefined where only oclif can tell. */
export function coreBackendHooks(root: string, dataDir: string): BackendHook[] | undefined {
  const user = readJson(join(dataDir, 'package.json'))
  if (user?.oclif?.plugins && user.oclif.plugins.length > 0) return undefined
  const rootJson = readJson(join(root, 'package.json'))
  if (!rootJson?.oclif) return undefined
  const hooks: BackendHook[] = []
  const add = (pjson: PackageJson, dir: string): boolean => {
    const declared = pjson.oclif?.hooks?.[BACKENDS_HOOK]
    if (declared === undefined) return true
    const files = Array.isArray(declared) ? declared : [declared]
    if (!files.every((f) => typeof f === 'string')) return false
    for (const file of files as string[]) hooks.push({plugin: pjson.name ?? dir, file: resolve(dir, file)})
    return true
  }

  if (!add(rootJson, root)) return undefined
  for (const name of rootJson.oclif.plugins ?? []) {
    if (typeof name !== 'string') return undefined
    const pjsonFile = packageJsonOf(name, root)
    const pjson = pjsonFile ? readJson(pjsonFile) : undefined
    if (!pjsonFile || !pjson || (pjson.oclif?.plugins && pjson.oclif.plugins.length > 0)) return undefined
    if (!add(pjson, dirname(pjsonFile))) return undefined
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

/**
 * Run the hooks concurrently, as oclif does; answers in the plugins' order.
 * A hook whose file (relative to `root`) is in `bundled` runs from there.
 */
export async function runBackendHooks(hooks: BackendHook[], root?: string, bundled?: Record<string, unknown>): Promise<HookAnswers> {
  const settled = await Promise.allSettled(
    hooks.map(async ({file}) => {
      const inBundle = root && bundled ? bundled[relative(root, file)] : undefined
      const module = inBundle ? {default: inBundle} : ((await import(pathToFileURL(file).href)) as {default?: unknown})
      const hook = typeof module.default === 'function' ? module.default : module
      if (typeof hook !== 'function') throw new Error(`${file} exports no hook function`)
      // ec's hooks use neither the context nor the options oclif would pass.
      return (hook as (options: object) => unknown).call({}, {})
    }),
  )
  const answers: HookAnswers = {successes: [], failures: []}
  for (const [i, outcome] of settled.entries()) {
    const plugin = {name: hooks[i].plugin}
    if (outcome.status === 'fulfilled') answers.successes.push({plugin, result: outcome.value})
    else answers.failures.push({plugin, error: outcome.reason as Error})
  }

  return answers
}
