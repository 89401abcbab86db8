// What core's backend registry is made of: every installed plugin's
// `ec-backends` hook answers with descriptors; core keeps each with the name
// of the plugin it came from, and gives each config section one owner.
import type {BackendDescriptor, BackendKind, ConfigSection} from './backend.js'

/** The hook event every backend plugin declares in its package.json `oclif.hooks`. */
export const BACKENDS_HOOK = 'ec-backends'

/** A plugin's `ec-backends` hook: its module's default export. */
export type BackendsHook = () => Promise<BackendDescriptor[]>

export interface RegisteredBackend<K extends BackendKind = BackendKind> {
  descriptor: BackendDescriptor<K>
  /** The npm name of the plugin that contributed it. */
  plugin: string
}

export interface RegisteredSection {
  section: ConfigSection
  plugin: string
}

/** The hook's raw answer (oclif's runHook result), so the registry can be built without oclif in unit tests. */
export interface HookAnswers {
  successes: Array<{plugin: HookPlugin; result: unknown}>
  failures: Array<{plugin: HookPlugin; error: Error}>
}

/** The plugin an answer came from; oclif's type: `core` (shipped with ec), `user` (installed), `link`. */
export interface HookPlugin {
  name: string
  type?: string
}
