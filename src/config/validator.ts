// The config schema's validator. Compiling it with Ajv costs more than the
// rest of a command's start-up, and the schema only changes when plugins do,
// so the compiled code (Ajv's standalone output) is kept in the cache
// directory under the schema's hash; later runs load it without Ajv at all.
import {createHash} from 'node:crypto'
import {mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
import {join} from 'node:path'

import type {ErrorObject} from 'ajv'

export interface Validator {
  (data: unknown): boolean
  errors?: ErrorObject[] | null
}

const require = createRequire(import.meta.url)
const AJV_OPTIONS = {allErrors: true, strict: false, code: {source: true}} as const

export async function configValidator(schema: object, cacheDir?: string): Promise<Validator> {
  if (!cacheDir) return (await compile(schema)).validate
  const ajvVersion = (JSON.parse(await readFile(require.resolve('ajv/package.json'), 'utf8')) as {version: string}).version
  const digest = createHash('sha256').update(ajvVersion).update(JSON.stringify(schema)).digest('hex').slice(0, 24)
  const file = join(cacheDir, 'validators', `config-${digest}.cjs`)
  try {
    return require(file) as Validator
  } catch {
    // Not compiled yet (or unreadable): compile, and keep the code for next time.
  }

  const {validate, code} = await compile(schema)
  try {
    await mkdir(join(cacheDir, 'validators'), {recursive: true})
    await writeFile(`${file}.${process.pid}`, code)
    await rename(`${file}.${process.pid}`, file)
  } catch {
    // A cache we cannot write only costs speed.
  }

  return validate
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
