// The JSON Schema of ec's own configuration. Plugins add their sections (see
// ConfigSection in plugins/backend.ts); this file only knows core's keys.
import {MAX_AMOUNT} from '../input/max-amount.js'
import type {JsonSchema} from '@ec/plugin-api'

const port = {type: 'integer', minimum: 1, maximum: 65_535}
// Placement stores amounts as 32-bit signed integers (see input/amount.ts).
const positive = {type: 'integer', minimum: 1, maximum: MAX_AMOUNT}
export const RESOURCE_CLASS = '^[A-Z][A-Z0-9_]*$'
export const TRAIT = '^[A-Z][A-Z0-9_]*$'
const NAME = '^[A-Za-z0-9][A-Za-z0-9._-]*$'
const trait = {type: 'string', pattern: TRAIT}
const amounts = {type: 'object', additionalProperties: false, patternProperties: {[RESOURCE_CLASS]: {type: 'integer', minimum: 0, maximum: MAX_AMOUNT}}}

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
  credentials: {type: 'string', minLength: 1},
  controlPlane: {
    type: 'object',
    additionalProperties: false,
    properties: {
      host: {type: 'string', minLength: 1},
      tls: {type: 'boolean'},
      insecure: {type: 'boolean'},
      etcd: {
        type: 'object',
        additionalProperties: false,
        properties: {
          clientPort: port,
          peerPort: port,
          peers: {type: 'array', items: {type: 'string', minLength: 1}, uniqueItems: true},
          members: {type: 'integer', minimum: 1, maximum: 9},
        },
      },
      placement: {
        type: 'object',
        additionalProperties: false,
        properties: {
          port,
          database: {type: 'string', pattern: '^(sqlite|mariadb|[a-z][a-z0-9+]*://.+)$'},
          workers: {type: 'integer', minimum: 1, maximum: 64},
        },
      },
      mariadb: {type: 'object', additionalProperties: false, properties: {port}},
      startTimeoutSeconds: {type: 'number', exclusiveMinimum: 0},
    },
  },
  compute: {
    type: 'object',
    additionalProperties: false,
    properties: {
      hostName: {type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$'},
      address: {type: 'string', minLength: 1},
      workers: {type: 'integer', minimum: 1, maximum: 256},
      leaseTtlSeconds: {type: 'integer', minimum: 2},
      shutdownGraceSeconds: {type: 'number', minimum: 0},
      resyncSeconds: {type: 'number', exclusiveMinimum: 0},
      guestReadyTimeoutSeconds: {type: 'number', exclusiveMinimum: 0},
      traits: {type: 'array', items: trait},
      reserved: amounts,
      allocationRatio: {type: 'object', additionalProperties: false, patternProperties: {[RESOURCE_CLASS]: {type: 'number', exclusiveMinimum: 0}}},
      inventory: amounts,
      numa: {
        oneOf: [
          {enum: ['auto', 'off']},
          {
            type: 'object',
            additionalProperties: false,
            required: ['nodes'],
            properties: {
              nodes: {
                type: 'array',
                minItems: 1,
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['cpus', 'memoryMb'],
                  properties: {cpus: {type: 'string', pattern: '^\\d+(-\\d+)?(,\\d+(-\\d+)?)*$'}, memoryMb: positive},
                },
              },
            },
          },
        ],
      },
    },
  },
  scheduling: {
    type: 'object',
    additionalProperties: false,
    properties: {
      pendingTimeoutSeconds: {type: 'number', exclusiveMinimum: 0},
      deleteTimeoutSeconds: {type: 'number', exclusiveMinimum: 0},
      waitTimeoutSeconds: {type: 'number', exclusiveMinimum: 0},
      maxUserDataBytes: {type: 'integer', minimum: 1, maximum: 1_048_576},
    },
  },
  flavors: {
    type: 'object',
    additionalProperties: false,
    patternProperties: {
      [NAME]: {
        type: 'object',
        additionalProperties: false,
        required: ['vcpus', 'memoryMb', 'diskGb'],
        properties: {
          vcpus: positive,
          memoryMb: positive,
          diskGb: positive,
          resources: amounts,
          traits: {type: 'array', items: trait},
          forbiddenTraits: {type: 'array', items: trait},
        },
      },
    },
  },
  images: {
    type: 'object',
    additionalProperties: false,
    patternProperties: {
      [NAME]: {
        type: 'object',
        additionalProperties: false,
        properties: {
          url: {type: 'string', pattern: '^https?://'},
          path: {type: 'string', minLength: 1},
          sha256: {type: 'string', pattern: '^[0-9a-f]{64}$'},
          user: {type: 'string', pattern: '^[a-z_][a-z0-9_-]{0,31}$'},
        },
        oneOf: [{required: ['url']}, {required: ['path']}],
      },
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
