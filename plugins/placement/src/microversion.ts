// Placement microversions are "major.minor" with numeric parts: 1.10 > 1.9.

export interface Microversion {
  major: number
  minor: number
}

/** Consumer generations in PUT /allocations (1.28) are what make claims safe. */
export const MIN_MICROVERSION: Microversion = {major: 1, minor: 28}
/** The newest behaviour this client was written and tested against. */
export const MAX_MICROVERSION: Microversion = {major: 1, minor: 39}
/** From here on PUT /allocations requires consumer_type. */
export const CONSUMER_TYPE_MICROVERSION: Microversion = {major: 1, minor: 38}

export function parseMicroversion(text: string): Microversion | undefined {
  const match = /^(\d+)\.(\d+)$/.exec(text.trim())
  return match ? {major: Number(match[1]), minor: Number(match[2])} : undefined
}

export function compareMicroversions(a: Microversion, b: Microversion): number {
  return a.major === b.major ? a.minor - b.minor : a.major - b.major
}

export function formatMicroversion(version: Microversion): string {
  return `${version.major}.${version.minor}`
}

/** The version to ask for: the server's newest, capped at what this client knows. */
export function negotiateMicroversion(serverMax: Microversion): Microversion {
  return compareMicroversions(serverMax, MAX_MICROVERSION) < 0 ? serverMax : MAX_MICROVERSION
}
