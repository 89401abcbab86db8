// Object completion on top of @oclif/plugin-autocomplete: its generated bash
// and zsh functions know commands and flags; ec appends a wrapper that asks
// `ec complete KIND` (a short-lived cache, see name-cache.ts) where an object
// name is due, and hands every other position back to oclif's function.
import {readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {objectKindShellFunction} from './objects.js'

const MARK = '# ec: object names'

export function bashWrapper(bin: string): string {
  return `
${MARK}
${objectKindShellFunction(bin)}
_${bin}_objects() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  local kind
  kind=$(_${bin}_object_kind "\${COMP_WORDS[1]}" "\${COMP_WORDS[2]}" "\${COMP_WORDS[COMP_CWORD-1]}" "$cur")
  if [[ -n "$kind" && $COMP_CWORD -ge 2 ]]; then
    local IFS=$'\\n'
    COMPREPLY=($(compgen -W "$(${bin} complete "$kind" 2>/dev/null)" -- "$cur"))
    return 0
  fi
  _${bin}_autocomplete
}
complete -F _${bin}_objects ${bin}
`
}

/**
 * zsh autoloads the file as the body of _<bin>, and oclif's body redefines
 * _<bin> and then calls it: a wrapper merely called at the end would run on
 * the first TAB only. So oclif's function is renamed _<bin>_oclif (see
 * extendCompletionFunctions) and _<bin> is this wrapper, which every later
 * TAB calls.
 */
export function zshWrapper(bin: string): string {
  return `
${MARK}
${objectKindShellFunction(bin)}
_${bin}() {
  local kind
  kind=$(_${bin}_object_kind "\${words[2]}" "\${words[3]}" "\${words[CURRENT-1]}" "\${words[CURRENT]}")
  if [[ -n "$kind" && $CURRENT -ge 3 ]]; then
    local -a names
    names=(\${(f)"$(${bin} complete "$kind" 2>/dev/null)"})
    compadd -a names
    return
  fi
  _${bin}_oclif "$@"
}
_${bin} "$@"
`
}

/** Add the wrappers to the functions `autocomplete:create` just wrote under cacheDir. */
export async function extendCompletionFunctions(cacheDir: string, bin: string): Promise<void> {
  const functions = join(cacheDir, 'autocomplete', 'functions')
  const bash = join(functions, 'bash', `${bin}.bash`)
  const zsh = join(functions, 'zsh', `_${bin}`)
  const bashScript = await readFile(bash, 'utf8')
  if (!bashScript.includes(MARK)) await writeFile(bash, bashScript + bashWrapper(bin))
  const zshScript = await readFile(zsh, 'utf8')
  if (!zshScript.includes(MARK)) {
    // oclif's file defines _<bin> and ends by calling it; its function becomes _<bin>_oclif, called by the wrapper.
    const body = zshScript
      .replace(new RegExp(`\\n_${bin}\\n*$`), '\n')
      .replace(new RegExp(`^_${bin}\\(\\) \\{`, 'm'), `_${bin}_oclif() {`)
    await writeFile(zsh, body + zshWrapper(bin))
  }
}
