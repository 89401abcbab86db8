// Names for images, given by `ec image pull REF --name N`. They live beside
// the host's image cache, one file per name (<agent dir>/image-names/N.json),
// so two pulls naming different images never lose each other's write. A name
// stands for where the image came from and its sha256 as pulled: a URL is
// fetched (from the cache where the pull left it, else downloaded again) and
// a file read where it lies, and either is checked against that checksum, so
// `--image N` always means the bytes that were pulled.
import {randomBytes} from 'node:crypto'
import {mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import type {ImageConfig} from '../config/defaults.js'
import {EcError} from '../errors.js'
import {quote} from '../output/escape.js'

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/

/** What a name stands for; `pulled` is when. */
export interface NamedImage extends ImageConfig {
  sha256: string
  pulled: string
}

export function imageNamesDir(agentDir: string): string {
  return join(agentDir, 'image-names')
}

export function validateImageName(name: string): string {
  if (!NAME.test(name)) {
    throw new EcError('usage', `image name ${quote(name)} is not valid; use 1-63 lower-case letters, digits, dots, dashes and underscores, starting with a letter or digit`)
  }

  return name
}

/** Give `name` to an image (replacing what it named before, which is returned). */
export function nameImage(dir: string, name: string, image: NamedImage): NamedImage | undefined {
  validateImageName(name)
  const previous = namedImages(dir)[name]
  mkdirSync(dir, {recursive: true})
  const file = join(dir, `${name}.json`)
  const temporary = `${file}.${randomBytes(4).toString('hex')}.tmp`
  writeFileSync(temporary, JSON.stringify(image) + '\n')
  renameSync(temporary, file)
  return previous
}

/** Every name in `dir` (none when it does not exist); unreadable entries are skipped. */
export function namedImages(dir: string): Record<string, NamedImage> {
  let entries: string[]
  try {
    entries = readdirSync(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw error
  }

  const names: Record<string, NamedImage> = {}
  for (const entry of entries) {
    const name = entry.endsWith('.json') ? entry.slice(0, -'.json'.length) : undefined
    if (!name || !NAME.test(name)) continue
    try {
      const image = JSON.parse(readFileSync(join(dir, entry), 'utf8')) as NamedImage
      if (typeof image.sha256 === 'string' && (typeof image.url === 'string' || typeof image.path === 'string')) names[name] = image
    } catch {
      // a file someone else left half-written or edited by hand: not a name
    }
  }

  return names
}

/** The images `--image` can name here: configured ones, and those named by a pull on this host (configured ones win). */
export function knownImages(configured: Record<string, ImageConfig>, agentDir: string): Record<string, ImageConfig> {
  return {...namedImages(imageNamesDir(agentDir)), ...configured}
}
