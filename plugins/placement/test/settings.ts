// The scheduler settings this plugin's tests use against a test Placement:
// admin token, pack, small limits; mutual TLS when the control plane serves it.
import {credentialsFor} from '../../../test/helpers/credentials.js'
import type {PlacementSettings} from '../src/config.js'

export function settingsFor(url: string, overrides: Partial<PlacementSettings> = {}): PlacementSettings {
  const credentials = credentialsFor(url)
  return {
    url,
    ...(credentials ? {tls: {credentials}} : {}),
    token: 'admin',
    projectId: 'ec-test',
    userId: 'ec-test',
    policy: 'pack',
    candidateLimit: 20,
    claimRounds: 5,
    timeoutMs: 10_000,
    ...overrides,
  }
}
