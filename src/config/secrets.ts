// Credentials in the configuration (etcd's password, Placement's token) are
// marked in their section's JSON Schema with the standard annotation
// `writeOnly: true`: ec reads them but never prints them. Plugins mark their
// own secret keys the same way, and every output of the config redacts them.
import type {JsonSchema} from '@ec/plugin-api'

export const REDACTED = '<redacted>'

/** Dotted paths of the secret keys that `values` sets, found by walking `schema` beside it. */
export function secretPaths(schema: JsonSchema, values: unknown, prefix: string[] = []): string[] {
  if (!isPlainObject(values)) return []
  const found: string[] = []
  for (const [key, value] of Object.entries(values)) {
    const sub = subschema(schema, key)
    if (!sub || value === undefined) continue
    const path = [...prefix, key]
    if (sub.writeOnly === true) found.push(path.join('.'))
    else found.push(...secretPaths(sub, value, path))
  }

  return found
}

/** A copy of `values` with the value at every one of `paths` replaced by REDACTED. */
export function redact<T>(values: T, paths: readonly string[]): T {
  const copy = structuredClone(values) as Record<string, unknown>
  for (const dotted of paths) {
    const keys = dotted.split('.')
    let node: unknown = copy
    for (const key of keys.slice(0, -1)) node = isPlainObject(node) ? node[key] : undefined
    if (isPlainObject(node) && node[keys.at(-1)!] !== undefined) node[keys.at(-1)!] = REDACTED
  }

  return copy as T
}

/** The schema a key of an object schema is checked against: properties, then patternProperties, then additionalProperties. */
function subschema(schema: JsonSchema, key: string): JsonSchema | undefined {
  const properties = schema.properties as Record<string, JsonSchema> | undefined
  if (properties?.[key]) return properties[key]
  const patterns = schema.patternProperties as Record<string, JsonSchema> | undefined
  for (const [pattern, sub] of Object.entries(patterns ?? {})) if (new RegExp(pattern, 'u').test(key)) return sub
  return isPlainObject(schema.additionalProperties) ? (schema.additionalProperties as JsonSchema) : undefined
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
