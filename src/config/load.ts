// Builds the effective configuration from four layers, lowest first:
// defaults (core + each plugin section) < config file < environment < flags.
// Every leaf remembers which layer set it, for `ec config show` and for errors
// that must name the file (or variable, or flag) a bad value came from.
import {existsSync} from 'node:fs'

import type {ErrorObject} from 'ajv'

import {clientCredentials} from '../credentials/bundle.js'
import {EcError} from '../errors.js'
import type {ConfigSection, EnvOverride, JsonSchema} from '@ec/plugin-api'
import {controlPlaneAddress, coreDefaults, type CoreConfig, localCredentialsFile} from './defaults.js'
import {findConfigFile} from './file.js'
import {composeSchema} from './schema.js'
import {secretPaths} from './secrets.js'
import {schemaErrors} from './validator.js'
import {byCodeUnits} from '../order.js'

export type Origin =
  | {kind: 'default'}
  | {kind: 'file'; file: string}
  | {kind: 'env'; variable: string}
  | {kind: 'flag'; flag: string}

export interface Override {
  path: string[]
  value: unknown
  origin: Origin
}

export type EcConfig = CoreConfig & Record<string, unknown>

export interface EffectiveConfig {
  values: EcConfig
  /** Dotted leaf path → the layer that set it. */
  origins: Map<string, Origin>
  /** The config file that was read, if any. */
  file?: string
  /** Dotted paths of the credentials among `values` (schema `writeOnly`): never print them (see secrets.ts). */
  secrets: string[]
}

export interface LoadOptions {
  sections?: ConfigSection[]
  /** --config; wins over EC_CONFIG and the search. */
  configFile?: string
  /** Values from command-line flags. */
  overrides?: Override[]
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Where the compiled schema validator (validator.ts) and parsed YAML (yaml-cache.ts) are kept between runs; none: build them each time. */
  cacheDir?: string
}

// Core's own environment variables; plugin sections declare theirs.
const CORE_ENV: Record<string, {path: string[]; type: EnvOverride['type']}> = {
  EC_STATE_DIR: {path: ['stateDir'], type: 'string'},
  EC_COMPUTE_ADDRESS: {path: ['compute', 'address'], type: 'string'},
  EC_CREDENTIALS: {path: ['credentials'], type: 'string'},
}

export async function loadConfig(options: LoadOptions = {}): Promise<EffectiveConfig> {
  const env = options.env ?? process.env
  const sections = options.sections ?? []
  const found = await findConfigFile({flag: options.configFile, env, cwd: options.cwd ?? process.cwd(), cacheDir: options.cacheDir})
  const fileOrigin: Origin = {kind: 'file', file: found?.file ?? ''}
  const envOverrides = environmentOverrides(sections, env)
  const flagOverrides = options.overrides ?? []

  // Section defaults point at the control plane, so settle it first from
  // every layer, then lay all layers again over the complete defaults.
  // Made once (it asks the OS for the host's addresses); layered() copies what it takes.
  const baseDefaults = coreDefaults(env)
  const core = layered(baseDefaults, found?.contents, envOverrides, flagOverrides, fileOrigin)
  // Clients authenticate with a credentials bundle: the one named, else the
  // local admin's that `ec up` wrote; its endpoints become the defaults. A
  // --state-dir flag (a second agent on the machine) points away from the
  // control plane's directory, so the configured one is looked at too.
  const configured = flagOverrides.length > 0 ? layered(baseDefaults, found?.contents, envOverrides, [], fileOrigin).values.stateDir : core.values.stateDir
  const local = [core.values.stateDir, configured].map((dir) => localCredentialsFile(dir)).find((file) => existsSync(file))
  const credentialsFile = core.values.credentials ?? local
  const credentials = credentialsFile
    ? clientCredentials(credentialsFile, describeOrigin(core.origins.get('credentials')))
    : undefined
  const address = controlPlaneAddress(core.values.controlPlane, credentials)
  const defaults: Record<string, unknown> = {...baseDefaults}
  if (credentialsFile) defaults.credentials = credentialsFile
  for (const section of sections) defaults[section.key] = section.defaults(address)

  const effective = layered(defaults, found?.contents, envOverrides, flagOverrides, fileOrigin)
  // By key: plugins' hooks answer in whatever order they finish, and the
  // compiled validator is kept under the schema's hash (validator.ts).
  const schema = composeSchema(Object.fromEntries([...sections].sort((a, b) => byCodeUnits(a.key, b.key)).map((s) => [s.key, s.schema])))
  await validate(effective, schema, options.cacheDir)
  return {values: effective.values as EcConfig, origins: effective.origins, file: found?.file, secrets: secretPaths(schema, effective.values)}
}

export function describeOrigin(origin: Origin | undefined): string {
  switch (origin?.kind) {
    case 'file': {
      return origin.file
    }

    case 'env': {
      return `environment variable ${origin.variable}`
    }

    case 'flag': {
      return `flag ${origin.flag}`
    }

    default: {
      return 'default'
    }
  }
}

function layered(
  defaults: object,
  fileContents: Record<string, unknown> | undefined,
  envOverrides: Override[],
  flagOverrides: Override[],
  fileOrigin: Origin,
): {values: CoreConfig; origins: Map<string, Origin>} {
  const values: Record<string, unknown> = {}
  const origins = new Map<string, Origin>()
  apply(values, defaults as Record<string, unknown>, {kind: 'default'}, origins, [])
  if (fileContents) apply(values, fileContents, fileOrigin, origins, [])
  for (const o of [...envOverrides, ...flagOverrides]) setPath(values, o.path, o.value, o.origin, origins)
  return {values: values as unknown as CoreConfig, origins}
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function apply(
  target: Record<string, unknown>,
  layer: Record<string, unknown>,
  origin: Origin,
  origins: Map<string, Origin>,
  prefix: string[],
): void {
  for (const [key, value] of Object.entries(layer)) {
    const path = [...prefix, key]
    if (isPlainObject(value) && isPlainObject(target[key])) {
      apply(target[key] as Record<string, unknown>, value, origin, origins, path)
    } else {
      forgetOrigins(origins, path, target[key])
      // A copy, so no layer shares an object with another (or with its source).
      target[key] = typeof value === 'object' && value !== null ? structuredClone(value) : value
      recordOrigins(value, origin, origins, path)
    }
  }
}

function setPath(
  target: Record<string, unknown>,
  path: string[],
  value: unknown,
  origin: Origin,
  origins: Map<string, Origin>,
): void {
  let node = target
  for (const key of path.slice(0, -1)) {
    if (!isPlainObject(node[key])) node[key] = {}
    node = node[key] as Record<string, unknown>
  }

  forgetOrigins(origins, path, node[path.at(-1)!])
  node[path.at(-1)!] = value
  recordOrigins(value, origin, origins, path)
}

function recordOrigins(value: unknown, origin: Origin, origins: Map<string, Origin>, path: string[]): void {
  if (isPlainObject(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) recordOrigins(v, origin, origins, [...path, k])
  } else {
    origins.set(path.join('.'), origin)
  }
}

/** Before `path` takes a new value: drop the origins of the `previous` one (every leaf under it when it was an object). */
function forgetOrigins(origins: Map<string, Origin>, path: string[], previous: unknown): void {
  const dotted = path.join('.')
  // A leaf has its one entry: looking through every origin for each leaf of each layer made loading quadratic.
  if (!isPlainObject(previous) || Object.keys(previous).length === 0) {
    origins.delete(dotted)
    return
  }

  for (const key of origins.keys()) {
    if (key === dotted || key.startsWith(dotted + '.')) origins.delete(key)
  }
}

function environmentOverrides(sections: ConfigSection[], env: NodeJS.ProcessEnv): Override[] {
  const declared = Object.entries(CORE_ENV).map(([variable, {path, type}]) => ({variable, path, type}))
  for (const section of sections) {
    for (const [variable, {key, type}] of Object.entries(section.env ?? {})) {
      declared.push({variable, path: [section.key, key], type})
    }
  }

  const overrides: Override[] = []
  for (const {variable, path, type} of declared) {
    const raw = env[variable]
    if (raw === undefined || raw.trim() === '') continue
    overrides.push({path, value: parseEnvValue(variable, raw.trim(), type), origin: {kind: 'env', variable}})
  }

  return overrides
}

function parseEnvValue(variable: string, raw: string, type: EnvOverride['type']): unknown {
  switch (type) {
    case 'list': {
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    }

    case 'integer': {
      if (!/^-?\d+$/.test(raw)) throw new EcError('config', `${variable} must be an integer, got "${raw}"`)
      return Number(raw)
    }

    case 'boolean': {
      if (/^(1|true|yes)$/i.test(raw)) return true
      if (/^(0|false|no)$/i.test(raw)) return false
      throw new EcError('config', `${variable} must be true or false, got "${raw}"`)
    }

    default: {
      return raw
    }
  }
}

async function validate(
  config: {values: object; origins: Map<string, Origin>},
  schema: JsonSchema,
  cacheDir: string | undefined,
): Promise<void> {
  const errors = await schemaErrors(schema, config.values, cacheDir)
  if (!errors) return
  const first = describeSchemaError(errors[0], config.origins, schema)
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more problem${errors.length > 2 ? 's' : ''})` : ''
  throw new EcError('config', `${first}${more}`)
}

/** The schema object an error's keyword sits in (what Ajv's verbose mode calls parentSchema). */
function parentSchema(schema: object, schemaPath: string): Record<string, unknown> | undefined {
  let node: unknown = schema
  for (const part of schemaPath.replace(/^#\//, '').split('/').slice(0, -1)) {
    node = (node as Record<string, unknown> | undefined)?.[decodeURIComponent(part.replaceAll('~1', '/').replaceAll('~0', '~'))]
  }

  return node as Record<string, unknown> | undefined
}

function describeSchemaError(error: ErrorObject | undefined, origins: Map<string, Origin>, schema: object): string {
  if (!error) return 'invalid configuration'
  const path = error.instancePath.split('/').filter(Boolean)
  if (error.keyword === 'additionalProperties') {
    const key = [...path, String(error.params.additionalProperty)].join('.')
    const known = Object.keys((parentSchema(schema, error.schemaPath)?.properties as object | undefined) ?? {})
    return `unknown config key "${key}" in ${describeOrigin(originOf(key, origins))}; known keys${
      path.length > 0 ? ` under ${path.join('.')}` : ''
    }: ${known.join(', ')}`
  }

  const key = path.join('.') || '(top level)'
  return `invalid config key "${key}" in ${describeOrigin(originOf(key, origins))}: ${error.message}`
}

/** The origin of a key, or of the nearest leaf under it (objects have none of their own). */
function originOf(dotted: string, origins: Map<string, Origin>): Origin | undefined {
  if (origins.has(dotted)) return origins.get(dotted)
  for (const [key, origin] of origins) if (key.startsWith(dotted + '.')) return origin
  return undefined
}
