// A short-lived cache of object names for shell completion. A completion must
// answer at once: fresh names are printed as they are; otherwise one lookup
// gets a short deadline for its network part (loading the client is local
// work and is not cut short), and if it fails or runs late the last names
// known are printed and the failure is remembered, so the next TAB on a dead
// etcd does not wait again until the cache's lifetime has passed.
import {createHash} from 'node:crypto'
import {mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

export const CACHE_TTL_MS = 10_000
export const LOOKUP_DEADLINE_MS = 1500

interface Entry {
  names: string[]
  /** When names were last read from the control plane (ms). */
  fetchedAt: number
  /** When the last lookup failed or ran late (ms). */
  failedAt?: number
}

/** One file per kind and per control plane the environment points at. */
export function cacheFile(cacheDir: string, kind: string, scope: string): string {
  const digest = createHash('sha256').update(scope).digest('hex').slice(0, 16)
  return join(cacheDir, 'completion', `${kind}-${digest}.json`)
}

async function read(file: string): Promise<Entry | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Entry
  } catch {
    return undefined
  }
}

async function write(file: string, entry: Entry): Promise<void> {
  await mkdir(join(file, '..'), {recursive: true})
  const temporary = `${file}.${process.pid}`
  await writeFile(temporary, JSON.stringify(entry))
  await rename(temporary, file) // a concurrent TAB never reads half a file
}

/** Loads what a lookup needs (config, client modules), then returns the lookup itself, which may touch the network. */
export type PrepareLookup = () => Promise<() => Promise<string[]>>

export async function cachedNames(
  file: string,
  prepare: PrepareLookup,
  options: {now?: number; ttlMs?: number; deadlineMs?: number} = {},
): Promise<string[]> {
  const now = options.now ?? Date.now()
  const ttl = options.ttlMs ?? CACHE_TTL_MS
  const entry = await read(file)
  if (entry && (now - entry.fetchedAt < ttl || (entry.failedAt !== undefined && now - entry.failedAt < ttl))) {
    return entry.names
  }

  let lookup: () => Promise<string[]>
  try {
    lookup = await prepare()
  } catch {
    return entry?.names ?? [] // e.g. a config error: no names, and nothing to remember
  }

  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), options.deadlineMs ?? LOOKUP_DEADLINE_MS)
  })
  const names = await Promise.race([lookup().catch(() => undefined), late]).finally(() => clearTimeout(timer))
  if (names === undefined) {
    await write(file, {names: entry?.names ?? [], fetchedAt: entry?.fetchedAt ?? 0, failedAt: now})
    return entry?.names ?? []
  }

  const sorted = [...new Set(names)].sort()
  await write(file, {names: sorted, fetchedAt: now})
  return sorted
}
