// Finds and reads the one config file in force: --config, then EC_CONFIG,
// then the search (cwd up to $HOME, then $XDG_CONFIG_HOME/ec/), then the
// system file /etc/ec/config.yaml.
//
// A .js/.mjs/.cjs config is code, and loading it runs it. ec runs code only
// from a file the user named (--config, EC_CONFIG) or from their own config
// directory: one the search finds in the current directory or a parent (a
// cloned repository, a shared /tmp) is refused with the way to use it on purpose.
import {existsSync, readFileSync, statSync} from 'node:fs'
import {homedir} from 'node:os'
import {basename, dirname, extname, join, resolve} from 'node:path'

import type {PublicExplorer} from 'cosmiconfig'

import {EcError} from '../errors.js'
import {quote} from '../output/escape.js'
import {parseYaml} from './yaml-cache.js'

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

type Explorer = Pick<PublicExplorer, 'load' | 'search'>

/**
 * cosmiconfig, loaded only for what needs it (JSON, JS, `$import`): a YAML
 * file, by far the usual one, is read here with the js-yaml cosmiconfig would
 * use, and loading cosmiconfig costs more than the rest of a command's start.
 */
function explorer(searchPlaces: string[]): Explorer {
  let loaded: Promise<PublicExplorer> | undefined
  const get = () => (loaded ??= import('cosmiconfig').then(({cosmiconfig}) => cosmiconfig('ec', {searchStrategy: 'none', searchPlaces, ...COMMON})))
  return {
    load: async (file) => (await get()).load(file),
    search: async (from) => (await get()).search(from),
  }
}

/** cosmiconfig's loader for a file name: .yaml, .yml, and no extension (.ecrc, config) are YAML. */
function isYaml(file: string): boolean {
  const ext = extname(basename(file))
  return ext === '' || ext === '.yaml' || ext === '.yml'
}

/**
 * What cosmiconfig's load() answers for a YAML file, without cosmiconfig
 * unless it has a `$import` (and, given a cache directory, without js-yaml
 * once the same text was parsed before: yaml-cache.ts).
 */
async function loadFile(file: string, cosmic: Explorer, cacheDir?: string): Promise<{filepath: string; config: unknown; isEmpty?: boolean} | null> {
  if (!isYaml(file)) return cosmic.load(file)
  // Read at once: Node's first promise-based read costs a short command a few ms.
  const content = readFileSync(file, 'utf8')
  if (content.trim() === '') return {filepath: file, config: undefined, isEmpty: true}
  let config: unknown
  try {
    config = await parseYaml(content, cacheDir)
  } catch (error) {
    ;(error as Error).message = `YAML Error in ${file}:\n${(error as Error).message}`
    throw error
  }

  if (config !== null && typeof config === 'object' && '$import' in config) return cosmic.load(file)
  return {filepath: file, config}
}

export interface FoundConfig {
  file: string
  contents: Record<string, unknown>
}

export async function findConfigFile(options: {
  flag?: string
  env: NodeJS.ProcessEnv
  cwd: string
  /** Where parsed YAML is kept between runs (yaml-cache.ts); none: parse each time. */
  cacheDir?: string
}): Promise<FoundConfig | undefined> {
  // cosmiconfig parses and searches one directory at a time; the walk is ours
  // so that HOME and XDG_CONFIG_HOME come from `env`, not from process.env.
  const local = explorer(SEARCH_PLACES)
  const load = (file: string) => loadFile(file, local, options.cacheDir)
  const explicit = options.flag
    ? {file: options.flag, via: '--config'}
    : options.env.EC_CONFIG?.trim()
      ? {file: options.env.EC_CONFIG.trim(), via: 'EC_CONFIG'}
      : undefined

  if (explicit) {
    const file = resolve(options.cwd, explicit.file)
    if (!existsSync(file)) throw new EcError('config', `config file ${quote(file)} (from ${explicit.via}) does not exist; check the path`)
    checkReadable(file, `from ${explicit.via}`)
    return read(file, () => load(file))
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
    return read(place, () => load(place))
  }

  const userDir = join(options.env.XDG_CONFIG_HOME?.trim() || join(home, '.config'), 'ec')
  // The first of USER_PLACES there, as cosmiconfig's search would pick it; anything but a regular file is left to it.
  const userPlace = USER_PLACES.map((name) => join(userDir, name)).find((file) => existsSync(file))
  const inUserDir = !userPlace
    ? undefined
    : statSync(userPlace).isFile()
      ? await read(userPlace, () => load(userPlace))
      : await read(userDir, () => explorer(USER_PLACES).search(userDir))
  if (inUserDir) return inUserDir
  if (existsSync(SYSTEM_CONFIG_FILE)) return read(SYSTEM_CONFIG_FILE, () => load(SYSTEM_CONFIG_FILE))
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
