// The JSON Schema of ec's own configuration. Plugins add their sections (see
// ConfigSection in plugins/backend.ts); this file only knows core's keys.
import type {JsonSchema} from '../plugins/backend.js'

const port = {type: 'integer', minimum: 1, maximum: 65_535}

export const coreSchema = {
  backends: {
    type: 'object',
    additionalProperties: false,
    properties: {
      scheduler: {type: 'string', minLength: 1},
      transport: {type: 'string', minLength: 1},
      hypervisor: {type: 'string', minLength: 1},
      metadata: {type: 'string', minLength: 1},
    },
  },
  stateDir: {type: 'string', minLength: 1},
  controlPlane: {
    type: 'object',
    additionalProperties: false,
    properties: {
      host: {type: 'string', minLength: 1},
      etcd: {
        type: 'object',
        additionalProperties: false,
        properties: {clientPort: port, peerPort: port},
      },
      placement: {
        type: 'object',
        additionalProperties: false,
        properties: {port},
      },
      startTimeoutSeconds: {type: 'number', exclusiveMinimum: 0},
    },
  },
} satisfies Record<string, JsonSchema>

/** The whole document: core keys plus one property per plugin section. */
export function composeSchema(sections: Record<string, JsonSchema>): JsonSchema {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {...coreSchema, ...sections},
  }
}
