// Collects backends from every installed plugin through the `ec-backends`
// oclif hook and picks one per kind by name. Core never lists backends itself:
// a plugin installed with `ec plugins install` is found the same way as the
// first-party ones.
import type {Config} from '@oclif/core'

import {
  BACKEND_KINDS,
  BACKENDS_HOOK,
  type BackendDescriptor,
  type BackendKind,
  EcError,
  type HookAnswers,
  type HookPlugin,
  type RegisteredBackend,
  type RegisteredSection,
} from '@ec/plugin-api'
import {byCodeUnits} from '../order.js'

declare module '@oclif/core' {
  interface Hooks {
    [BACKENDS_HOOK]: {options: Record<string, never>; return: BackendDescriptor[] | undefined}
  }
}

export type {HookAnswers, RegisteredBackend, RegisteredSection} from '@ec/plugin-api'

/** How long a plugin's ec-backends hook may take (it should only describe its backends). */
const HOOK_TIMEOUT_MS = 30_000

export class BackendRegistry {
  private constructor(
    private readonly backends: RegisteredBackend[],
    private readonly sections: RegisteredSection[],
    /** Plugins whose hook failed or returned something that is not a backend. */
    readonly problems: string[],
  ) {}

  static async load(config: Config): Promise<BackendRegistry> {
    // Every failure is captured (a hook that calls this.error() or exit() too) and one
    // that hangs gives up: a broken plugin is reported by name, it never breaks ec.
    const answers = await config.runHook(BACKENDS_HOOK, {}, HOOK_TIMEOUT_MS, true)
    return BackendRegistry.fromHookAnswers(answers)
  }

  static fromHookAnswers(answers: HookAnswers): BackendRegistry {
    // Hooks answer in whatever order they finish: ec's own plugins first, then by name, so
    // which of two plugins keeps a name never depends on timing, and a plugin cannot take over
    // a first-party backend; the warnings come in that order too, with or without oclif.
    const byPlugin = (a: {plugin: HookPlugin}, b: {plugin: HookPlugin}) => rank(a.plugin.type) - rank(b.plugin.type) || byCodeUnits(a.plugin.name, b.plugin.name)
    const problems = [...answers.failures].sort(byPlugin).map(({error, plugin}) => `plugin ${plugin.name}: its ${BACKENDS_HOOK} hook failed: ${error.message}`)
    const backends: RegisteredBackend[] = []
    const ordered = [...answers.successes].sort(byPlugin)
    for (const {plugin, result} of ordered) {
      if (result === undefined) continue
      if (!Array.isArray(result)) {
        problems.push(`plugin ${plugin.name}: its ${BACKENDS_HOOK} hook must return an array of backends`)
        continue
      }

      for (const candidate of result) {
        const problem = describeInvalidDescriptor(candidate)
        if (problem) {
          problems.push(`plugin ${plugin.name}: ${problem}`)
          continue
        }

        const descriptor = candidate as BackendDescriptor
        const clash = backends.find(
          (b) => b.descriptor.kind === descriptor.kind && b.descriptor.name === descriptor.name,
        )
        if (clash) {
          problems.push(
            `plugin ${plugin.name}: ${descriptor.kind} backend "${descriptor.name}" is already provided by ${clash.plugin}; ignored`,
          )
          continue
        }

        backends.push({descriptor, plugin: plugin.name})
      }
    }

    return new BackendRegistry(backends, collectSections(backends, problems), problems)
  }

  list(kind?: BackendKind): RegisteredBackend[] {
    return kind ? this.backends.filter((b) => b.descriptor.kind === kind) : [...this.backends]
  }

  configSections(): RegisteredSection[] {
    return [...this.sections]
  }

  pick<K extends BackendKind>(kind: K, name: string): RegisteredBackend<K> {
    const found = this.backends.find((b) => b.descriptor.kind === kind && b.descriptor.name === name)
    if (found) return found as RegisteredBackend<K>
    const available = this.list(kind)
      .map((b) => `${b.descriptor.name} (from ${b.plugin})`)
      .sort()
    const choices = available.length > 0 ? `available: ${available.join(', ')}` : 'no plugin provides one'
    throw new EcError(
      'config',
      `unknown ${kind} backend "${name}" in backends.${kind}; ${choices}. Install one with "ec plugins install <plugin>"`,
    )
  }
}

const PLUGIN_TYPES = ['core', 'user', 'link']

function rank(type: string | undefined): number {
  const index = PLUGIN_TYPES.indexOf(type ?? '')
  return index === -1 ? PLUGIN_TYPES.length : index
}

function describeInvalidDescriptor(candidate: unknown): string | undefined {
  if (typeof candidate !== 'object' || candidate === null) return 'a backend must be an object'
  const d = candidate as Partial<BackendDescriptor>
  if (typeof d.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(d.name)) {
    return `backend name ${JSON.stringify(d.name)} must be lower-case letters, digits and dashes`
  }

  if (!BACKEND_KINDS.includes(d.kind as BackendKind)) {
    return `backend "${d.name}" has kind ${JSON.stringify(d.kind)}; expected one of ${BACKEND_KINDS.join(', ')}`
  }

  if (typeof d.create !== 'function') return `backend "${d.name}" has no create() function`
  if (d.config !== undefined && (typeof d.config.key !== 'string' || typeof d.config.defaults !== 'function')) {
    return `backend "${d.name}" has a config section without a key or defaults()`
  }

  return undefined
}

/** One owner per config key; two backends of one plugin may share a section object. */
function collectSections(backends: RegisteredBackend[], problems: string[]): RegisteredSection[] {
  const sections: RegisteredSection[] = []
  for (const {descriptor, plugin} of backends) {
    const section = descriptor.config
    if (!section) continue
    const owner = sections.find((s) => s.section.key === section.key)
    if (!owner) {
      sections.push({section, plugin})
    } else if (owner.section !== section) {
      problems.push(
        `plugin ${plugin}: config section "${section.key}" is already owned by ${owner.plugin}; ignored`,
      )
    }
  }

  return sections
}
