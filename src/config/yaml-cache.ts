// A YAML config file's parsed form, kept in the cache directory under the
// hash of its text. Loading js-yaml costs a short command like `ec instance
// list` more than the rest of reading its config, for a file that rarely
// changes; a kept parse is read back with JSON.parse. Only a parse that JSON
// carries exactly is kept (no timestamps, which YAML reads as dates, no
// infinities, no -0), so the cached answer is always what js-yaml would give.
// A config can hold credentials (etcd.password, placement.token): the kept
// parse is its owner's alone (mode 0600 in a 0700 directory), whatever the
// file's own mode.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {isDeepStrictEqual} from 'node:util'

import {cacheKey, keepInCache} from './cache-files.js'

/** Names the parse: js-yaml's major version fixes what a text parses to. */
const PARSER = 'js-yaml 4'

export async function parseYaml(text: string, cacheDir?: string): Promise<unknown> {
  const kept = cacheDir ? join(cacheDir, 'config-yaml', `${cacheKey(PARSER, text)}.json`) : undefined
  if (kept) {
    try {
      return JSON.parse(readFileSync(kept, 'utf8'))
    } catch {
      // Not kept yet, or unreadable: parse.
    }
  }

  const {load} = await import('js-yaml')
  const parsed = load(text)
  const json = parsed === undefined ? undefined : JSON.stringify(parsed)
  if (kept && json !== undefined && isDeepStrictEqual(JSON.parse(json), parsed)) await keepInCache(kept, json, {private: true})
  return parsed
}
