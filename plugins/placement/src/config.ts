import type {ConfigSection} from 'ec/plugins'

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
}

export const placementSection: ConfigSection = {
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
    },
  },
  defaults: (cp) => ({
    url: cp.placementUrls.length === 1 ? cp.placementUrls[0] : cp.placementUrls,
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
}
