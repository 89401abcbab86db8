// Names for what ec keeps in its cache directory: a short hash of the parts
// the kept thing was made from, so a changed input finds nothing and builds anew.
import {createHash} from 'node:crypto'

export function cacheKey(...parts: string[]): string {
  const sha = createHash('sha256')
  for (const part of parts) sha.update(part).update('\0')
  return sha.digest('hex').slice(0, 24)
}
