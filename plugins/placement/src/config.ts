import {type ClientTlsSettings, clientTlsSchema, defineSection} from '@ec/plugin-api'

export interface PlacementSettings {
  /** One URL, or one per controller: requests fail over to the next when one does not answer. */
  url: string | string[]
  /** X-Auth-Token: "admin" works with noauth2; a Keystone token otherwise. */
  token: string
  projectId: string
  userId: string
  /** pack fills the fullest host first; spread the emptiest. */
  policy: 'pack' | 'spread'
  /** How many candidates one GET /allocation_candidates asks for. */
  candidateLimit: number
  /** How many times the candidate list is fetched again after every claim lost a race. */
  claimRounds: number
  timeoutMs: number
  /** Client TLS: a credentials bundle and/or PEM files (which win over the bundle's). */
  tls?: Omit<ClientTlsSettings, 'serverName'>
}

/** One URL as a string, several as a list (clients fail over between them). */
function placementUrl(urls: string[]): string | string[] {
  return urls.length === 1 ? urls[0] : urls
}

export const placementSection = defineSection<PlacementSettings>({
  key: 'placement',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      url: {
        oneOf: [
          {type: 'string', pattern: '^https?://'},
          {type: 'array', minItems: 1, items: {type: 'string', pattern: '^https?://'}},
        ],
      },
      // writeOnly: a credential, which ec config show redacts.
      token: {type: 'string', minLength: 1, writeOnly: true},
      projectId: {type: 'string', minLength: 1},
      userId: {type: 'string', minLength: 1},
      policy: {enum: ['pack', 'spread']},
      candidateLimit: {type: 'integer', minimum: 1, maximum: 1000},
      claimRounds: {type: 'integer', minimum: 1, maximum: 100},
      timeoutMs: {type: 'integer', minimum: 1},
      tls: clientTlsSchema(),
    },
  },
  // With a credentials bundle (the local admin's after `ec up`, or --credentials)
  // its URL and certificate are the defaults.
  defaults: (cp) => ({
    url: cp.credentials ? placementUrl(cp.credentials.placementUrls) : placementUrl(cp.placementUrls),
    ...(cp.credentials ? {tls: {credentials: cp.credentials.file}} : {}),
    token: 'admin',
    projectId: 'ec',
    userId: 'ec',
    policy: 'pack',
    candidateLimit: 20,
    claimRounds: 5,
    timeoutMs: 10_000,
  }),
  env: {
    EC_PLACEMENT_URL: {key: 'url', type: 'list'},
    EC_PLACEMENT_TOKEN: {key: 'token', type: 'string'},
  },
})
