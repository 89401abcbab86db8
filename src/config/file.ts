// Finds and reads the one config file in force: --config, then EC_CONFIG,
// then the search (cwd up to $HOME, then $XDG_CONFIG_HOME/ec/), then the
// system file /etc/ec/config.yaml.
//
// A .js/.mjs/.cjs config is code, and loading it runs it. ec runs code only
// from a file the user named (--config, EC_CONFIG) or from their own config
// directory: one the search finds in the current directory or a parent (a
// cloned repository, a shared /tmp) is refused with the way to use it on purpose.
import {cosmiconfig} from 'cosmiconfig'
import {existsSync, statSync} from 'node:fs'
import {homedir} from 'node:os'
import {dirname, join, resolve} from 'node:path'

import {EcError} from '../errors.js'
import {quote} from '../output/escape.js'

export const SYSTEM_CONFIG_FILE = '/etc/ec/config.yaml'

export const SEARCH_PLACES = [
  'ec.config.yaml',
  'ec.config.yml',
  'ec.config.json',
  'ec.config.js',
  'ec.config.mjs',
  '.ecrc',
  '.ecrc.yaml',
  '.ecrc.yml',
  '.ecrc.json',
  '.ecrc.js',
  '.ecrc.mjs',
]

/** Config files that are programs; see the top of this file. */
const CODE = /\.(?:js|mjs|cjs|ts|mts|cts)$/

/** Far beyond any real config; a bigger file (or a device) is a mistake, not a config. */
export const MAX_CONFIG_BYTES = 1_048_576

/** Names inside ~/.config/ec/. */
const USER_PLACES = ['config.yaml', 'config.yml', 'config.json', 'config.js', 'config.mjs', 'config']

// An empty file found by the search still counts: it is the file in force.
const COMMON = {cache: false, ignoreEmptySearchPlaces: false, mergeImportArrays: false} as const

export interface FoundConfig {
  file: string
  contents: Record<string, unknown>
}

export async function findConfigFile(options: {
  flag?: string
  env: NodeJS.ProcessEnv
  cwd: string
}): Promise<FoundConfig | undefined> {
  // cosmiconfig parses and searches one directory at a time; the walk is ours
  // so that HOME and XDG_CONFIG_HOME come from `env`, not from process.env.
  const local = cosmiconfig('ec', {searchStrategy: 'none', searchPlaces: SEARCH_PLACES, ...COMMON})
  const explicit = options.flag
    ? {file: options.flag, via: '--config'}
    : options.env.EC_CONFIG?.trim()
      ? {file: options.env.EC_CONFIG.trim(), via: 'EC_CONFIG'}
      : undefined

  if (explicit) {
    const file = resolve(options.cwd, explicit.file)
    if (!existsSync(file)) throw new EcError('config', `config file ${quote(file)} (from ${explicit.via}) does not exist; check the path`)
    checkReadable(file, `from ${explicit.via}`)
    return read(file, () => local.load(file))
  }

  const home = options.env.HOME?.trim() || homedir()
  for (const dir of ancestors(resolve(options.cwd), home)) {
    const place = SEARCH_PLACES.map((name) => join(dir, name)).find((file) => existsSync(file))
    if (!place) continue
    if (CODE.test(place)) {
      throw new EcError(
        'config',
        `config file ${quote(place)} is code, and ec runs code only from a file you name: use --config ${place} (or EC_CONFIG), move it to ~/.config/ec/, or write it as YAML or JSON`,
      )
    }

    checkReadable(place, 'found by the search')
    return read(place, () => local.load(place))
  }

  const userDir = join(options.env.XDG_CONFIG_HOME?.trim() || join(home, '.config'), 'ec')
  const user = cosmiconfig('ec', {searchStrategy: 'none', searchPlaces: USER_PLACES, ...COMMON})
  const inUserDir = await read(userDir, () => user.search(userDir))
  if (inUserDir) return inUserDir
  if (existsSync(SYSTEM_CONFIG_FILE)) return read(SYSTEM_CONFIG_FILE, () => local.load(SYSTEM_CONFIG_FILE))
  return undefined
}

/** Only a regular file of a sane size: a FIFO or a device would block or never end. */
function checkReadable(file: string, how: string): void {
  const stats = statSync(file)
  if (!stats.isFile()) throw new EcError('config', `config file ${quote(file)} (${how}) is not a regular file; point at a YAML, JSON or JS file`)
  if (stats.size > MAX_CONFIG_BYTES) {
    throw new EcError('config', `config file ${quote(file)} (${how}) is ${stats.size} bytes, more than ${MAX_CONFIG_BYTES}; is it the right file?`)
  }
}

/** `start` and its parents, up to and including `stop` (or the root when `stop` is not above it). */
function ancestors(start: string, stop: string): string[] {
  const dirs = [start]
  for (let dir = start; dir !== stop && dirname(dir) !== dir; ) {
    dir = dirname(dir)
    dirs.push(dir)
  }

  return dirs
}

async function read(
  where: string,
  load: () => Promise<{filepath: string; config: unknown; isEmpty?: boolean} | null>,
): Promise<FoundConfig | undefined> {
  let result
  try {
    result = await load()
  } catch (error) {
    const file = (error as {filepath?: string}).filepath ?? where
    throw new EcError('config', `cannot read config file ${file}: ${firstUsefulLine(error)}`, {cause: error})
  }

  if (!result) return undefined
  const contents = result.isEmpty || result.config === undefined || result.config === null ? {} : result.config
  if (typeof contents !== 'object' || Array.isArray(contents)) {
    throw new EcError('config', `config file ${result.filepath} must hold a mapping of keys to values`)
  }

  return {file: result.filepath, contents: contents as Record<string, unknown>}
}

// Parsers put a "YAML Error in <file>:" header before the real message.
function firstUsefulLine(error: unknown): string {
  const lines = (error instanceof Error ? error.message : String(error))
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !/^(YAML|JSON) Error in /.test(line))
  return lines[0] ?? 'unreadable'
}
