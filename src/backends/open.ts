// Opens the backend that config selects for a kind: pick it from the
// registry, hand it its own config section and a state directory.
import {join} from 'node:path'

import type {EcConfig} from '../config/load.js'
import type {BackendKind, BackendsByKind, Logger} from '@ec/plugin-api'
import type {BackendRegistry} from '../plugins/registry.js'

export interface OpenOptions {
  /** Where the backend may keep state; default <stateDir>/<kind>. */
  stateDir?: string
  log?: Logger
  /** A short-lived command that mostly reads (BackendContext.shortLived). */
  shortLived?: boolean
}

const quiet: Logger = {debug() {}, info() {}, warn() {}}

export async function openBackend<K extends BackendKind>(
  registry: BackendRegistry,
  config: EcConfig,
  kind: K,
  options: OpenOptions = {},
): Promise<BackendsByKind[K]> {
  const {descriptor} = registry.pick(kind, config.backends[kind])
  const section = descriptor.config ? ((config[descriptor.config.key] as Record<string, unknown>) ?? {}) : {}
  return descriptor.create({
    section,
    config,
    stateDir: options.stateDir ?? join(config.stateDir, kind),
    log: options.log ?? quiet,
    shortLived: options.shortLived,
  })
}

/** `backends.metadata: none` runs guests without a metadata service. */
export const NO_BACKEND = 'none'
