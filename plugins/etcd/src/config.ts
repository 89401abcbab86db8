import {type ClientTlsSettings, clientTlsSchema, defineSection} from '@ec/plugin-api'

export interface EtcdSettings {
  endpoints: string[]
  /** Every key ec writes lives under this prefix, so clusters can be shared. */
  prefix: string
  username?: string
  password?: string
  /** Client TLS: a credentials bundle and/or PEM files (which win over the bundle's). */
  tls?: ClientTlsSettings
  /** How long a call waits for etcd before it fails, in milliseconds. */
  timeoutMs: number
}

export const etcdSection = defineSection<EtcdSettings>({
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
      tls: clientTlsSchema({serverName: true}),
      timeoutMs: {type: 'integer', minimum: 1},
    },
  },
  // With a credentials bundle (the local admin's after `ec up`, or --credentials)
  // its endpoints and certificate are the defaults.
  defaults: (cp) => ({
    endpoints: cp.credentials?.etcdEndpoints ?? cp.etcdEndpoints,
    prefix: '/ec',
    timeoutMs: 5000,
    ...(cp.credentials ? {tls: {credentials: cp.credentials.file}} : {}),
  }),
  env: {
    EC_ETCD_ENDPOINTS: {key: 'endpoints', type: 'list'},
    EC_ETCD_PREFIX: {key: 'prefix', type: 'string'},
    EC_ETCD_USERNAME: {key: 'username', type: 'string'},
    EC_ETCD_PASSWORD: {key: 'password', type: 'string'},
  },
})
