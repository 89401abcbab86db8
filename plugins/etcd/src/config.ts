import type {ConfigSection} from 'ec/plugins'

export interface EtcdSettings {
  endpoints: string[]
  /** Every key ec writes lives under this prefix, so clusters can be shared. */
  prefix: string
  username?: string
  password?: string
  tls?: {ca?: string; cert?: string; key?: string}
  /** How long a call waits for etcd before it fails, in milliseconds. */
  timeoutMs: number
}

export const etcdSection: ConfigSection = {
  key: 'etcd',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      endpoints: {type: 'array', minItems: 1, items: {type: 'string', pattern: '^https?://'}},
      prefix: {type: 'string', pattern: '^/'},
      username: {type: 'string'},
      // writeOnly: a credential, which ec config show redacts.
      password: {type: 'string', writeOnly: true},
      tls: {
        type: 'object',
        additionalProperties: false,
        properties: {ca: {type: 'string'}, cert: {type: 'string'}, key: {type: 'string'}},
      },
      timeoutMs: {type: 'integer', minimum: 1},
    },
  },
  defaults: (cp) => ({endpoints: cp.etcdEndpoints, prefix: '/ec', timeoutMs: 5000}),
  env: {
    EC_ETCD_ENDPOINTS: {key: 'endpoints', type: 'list'},
    EC_ETCD_PREFIX: {key: 'prefix', type: 'string'},
    EC_ETCD_USERNAME: {key: 'username', type: 'string'},
    EC_ETCD_PASSWORD: {key: 'password', type: 'string'},
  },
}
