// preparse: `ec plugins install ./plugin.tgz` and `ec plugins install ./dir`.
// @oclif/plugin-plugins takes any argument with a slash for a GitHub
// repository; a local path is turned into an npm `file:` spec it installs as
// it is. The plugin is kept under ec's data directory first (a directory is
// packed with `npm pack`, which builds it through its prepack script), so it
// stays installed when the original moves. Every other command returns at once.
import type {Hook} from '@oclif/core'

const INSTALL = new Set(['plugins:install', 'plugins:add'])

const hook: Hook.Preparse = async function ({argv, options}) {
  // The command being parsed travels as options.context (the hook's own `context` is oclif's hook context).
  const command = (options as {context?: {id?: string}}).context
  if (!INSTALL.has(command?.id ?? '')) return argv
  const {localPluginSpec} = await import('../plugins/local-install.js')
  const rewritten: string[] = []
  for (const arg of argv) {
    try {
      rewritten.push(arg.startsWith('-') ? arg : await localPluginSpec(arg, this.config.dataDir))
    } catch (error) {
      // ec's one-line form (oclif's own would wrap it over several lines)
      process.stderr.write(`Error: ${(error as Error).message}\n`)
      this.exit((error as {exitCode?: number}).exitCode ?? 2)
    }
  }

  return rewritten
}

export default hook
