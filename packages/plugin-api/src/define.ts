// defineBackend(): a typed way to write a descriptor. The backend's config
// section and its create() agree on one settings type, so a hook needs no cast
// to read its section; the one cast lives here, where it is true: core hands
// create() the section it validated against the schema, defaults filled in.
import type {BackendContext, BackendDescriptor, BackendKind, BackendsByKind, ConfigSection} from './backend.js'

export interface BackendDefinition<K extends BackendKind, S extends object> {
  kind: K
  /** What config's `backends.<kind>` names to pick it: lower-case letters, digits and dashes. */
  name: string
  description: string
  /** The section this backend reads, if any (two backends of a plugin may share one object). */
  config?: ConfigSection<S>
  /** Load the implementation (lazily: `await import(…)`, so `ec --help` does not pay for it). */
  create(context: BackendContext<S>): Promise<BackendsByKind[K]>
}

/**
 * A typed backend descriptor for a plugin's `ec-backends` hook:
 *
 *     export default async function backends() {
 *       return [defineBackend({kind: 'transport', name: 'nats', description: '…', config: natsSection,
 *         async create({section}) { const {NatsTransport} = await import('../transport.js'); return new NatsTransport(section) }})]
 *     }
 */
export function defineBackend<K extends BackendKind, S extends object = Record<string, never>>(
  definition: BackendDefinition<K, S>,
): BackendDescriptor<K> {
  const {kind, name, description, config} = definition
  return {
    kind,
    name,
    description,
    ...(config ? {config: config as ConfigSection<object> as ConfigSection} : {}),
    create: (context) => definition.create({...context, section: context.section as Readonly<S>}),
  }
}

/** A config section whose settings type the backend's create() then receives. */
export function defineSection<S extends object>(section: ConfigSection<S>): ConfigSection<S> {
  return section
}
