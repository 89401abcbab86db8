// What ec keeps in its cache directory (the config validator, parsed YAML,
// V8's code for the start-up bundles): each file named by a short hash of the
// parts it was made from, so a changed input finds nothing and builds anew,
// and written whole or not at all.
import {createHash} from 'node:crypto'
import {mkdir, rename, writeFile} from 'node:fs/promises'
import {dirname} from 'node:path'

export function cacheKey(...parts: string[]): string {
  const sha = createHash('sha256')
  for (const part of parts) sha.update(part).update('\0')
  return sha.digest('hex').slice(0, 24)
}

/**
 * Write `file` through a temporary beside it, so a reader never sees half of
 * it; `private`: its owner's alone (0600 in a 0700 directory). Never throws:
 * a cache that cannot be written only costs speed.
 */
export async function keepInCache(file: string, contents: string | Uint8Array, options: {private?: boolean} = {}): Promise<void> {
  try {
    await mkdir(dirname(file), {recursive: true, ...(options.private ? {mode: 0o700} : {})})
    await writeFile(`${file}.${process.pid}`, contents, options.private ? {mode: 0o600} : {})
    await rename(`${file}.${process.pid}`, file)
  } catch {
    // Only speed is lost.
  }
}
