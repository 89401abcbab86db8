// The client credentials of the control planes tests started, by endpoint:
// helpers that take only an endpoint (etcdKeys, allocationsOf, providers)
// find the certificate to present here.
import {readFileSync} from 'node:fs'
import {Agent} from 'node:https'

const bundles = new Map<string, string>()

/** Remember that these endpoints take the credentials in `bundleFile`. */
export function registerCredentials(bundleFile: string, endpoints: string[]): () => void {
  for (const endpoint of endpoints) bundles.set(origin(endpoint), bundleFile)
  return () => {
    for (const endpoint of endpoints) if (bundles.get(origin(endpoint)) === bundleFile) bundles.delete(origin(endpoint))
  }
}

/** The bundle registered for the endpoint (any URL on it), if any. */
export function credentialsFor(url: string): string | undefined {
  return bundles.get(origin(url))
}

/** An https.Agent presenting the registered client certificate, for a URL on a registered endpoint. */
export function httpsAgentFor(url: string): Agent | undefined {
  const file = credentialsFor(url)
  if (!file) return undefined
  const {ca, cert, key} = JSON.parse(readFileSync(file, 'utf8')) as {ca: string; cert: string; key: string}
  return new Agent({ca, cert, key})
}

function origin(url: string): string {
  return new URL(url).origin
}
