// The config schema's validator. Compiling it with Ajv costs more than the
// rest of a command's start-up, and the schema only changes when plugins do,
// so the compiled code (Ajv's standalone output) is kept in the cache
// directory under the schema's hash; later runs load it without Ajv at all.
// A config that passed is remembered too (an empty file named by the hash of
// schema and values): validation is a pure function of the two (no defaults
// filled in, no coercion), and a command like `ec instance list` runs with the
// same config time after time, so it need not even load the validator again.
import {existsSync, readFileSync} from 'node:fs'
import {writeFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
import {join} from 'node:path'

import type {ErrorObject} from 'ajv'

import {cacheKey, keepInCache} from './cache-files.js'

export interface Validator {
  (data: unknown): boolean
  errors?: ErrorObject[] | null
}

const require = createRequire(import.meta.url)
const AJV_OPTIONS = {allErrors: true, strict: false, code: {source: true}} as const

/** Undefined when `values` satisfy `schema`, else Ajv's errors. */
export async function schemaErrors(schema: object, values: unknown, cacheDir?: string): Promise<ErrorObject[] | undefined> {
  const digest = cacheDir ? schemaDigest(schema) : undefined
  const passed = cacheDir && digest ? join(cacheDir, 'validators', `valid-${cacheKey(digest, JSON.stringify(values))}`) : undefined
  if (passed && existsSync(passed)) return undefined
  const check = await configValidator(schema, cacheDir, digest)
  if (!check(values)) return check.errors ?? []
  // The validator's own file made the directory; a cache we cannot write only costs speed.
  if (passed) await writeFile(passed, '').catch(() => undefined)
  return undefined
}

export async function configValidator(schema: object, cacheDir?: string, digest?: string): Promise<Validator> {
  if (!cacheDir) return (await compile(schema)).validate
  const file = join(cacheDir, 'validators', `config-${digest ?? schemaDigest(schema)}.cjs`)
  try {
    return require(file) as Validator
  } catch {
    // Not compiled yet (or unreadable): compile, and keep the code for next time.
  }

  const {validate, code} = await compile(schema)
  await keepInCache(file, code)
  return validate
}

/** Names the compiled validator: the schema and the Ajv that compiled it. */
function schemaDigest(schema: object): string {
  const ajvVersion = (JSON.parse(readFileSync(require.resolve('ajv/package.json'), 'utf8')) as {version: string}).version
  return cacheKey(ajvVersion, JSON.stringify(schema))
}

async function compile(schema: object): Promise<{validate: Validator; code: string}> {
  const [{Ajv}, standalone] = await Promise.all([import('ajv'), import('ajv/dist/standalone/index.js')])
  const standaloneCode = standalone.default.default // CommonJS: the module is the function, and its .default
  const ajv = new Ajv(AJV_OPTIONS)
  const validate = ajv.compile(schema)
  // The code requires Ajv's small runtime helpers by package name; the cache
  // directory cannot resolve them, so point at this installation's files.
  const code = standaloneCode(ajv, validate).replaceAll(/require\("(ajv\/dist\/runtime\/[^"]+)"\)/g, (_: string, id: string) => `require(${JSON.stringify(require.resolve(id))})`)
  return {validate, code}
}
