// postrun: after @oclif/plugin-autocomplete (re)writes its shell functions,
// add ec's object completion to them. Every other command returns at once.
import type {Hook} from '@oclif/core'

const WRITERS = new Set(['autocomplete', 'autocomplete:create'])

const hook: Hook.Postrun = async function ({Command, config}) {
  if (!WRITERS.has(Command.id)) return
  const {extendCompletionFunctions} = await import('../completion/shell.js')
  await extendCompletionFunctions(config.cacheDir, config.bin)
}

export default hook
