// What `ec plugins install` does with a local path (see hooks/plugins-install-path.ts):
// a tarball or a plugin directory becomes `file:<copy under the data directory>`.
import {execFile} from 'node:child_process'
import {copyFile, mkdir, mkdtemp, readdir, rename, rm, stat} from 'node:fs/promises'
import {basename, join, resolve} from 'node:path'
import {promisify} from 'node:util'

import {EcError} from '../errors.js'
import {quote} from '../output/escape.js'

const run = promisify(execFile)

/** ./x, ../x, /x, ~/x, or anything ending in .tgz / .tar.gz: a path, not an npm name or a GitHub slug. */
export function looksLikePath(arg: string): boolean {
  return /^(\.{1,2}\/|\/|~\/)/.test(arg) || /\.(tgz|tar\.gz)$/.test(arg)
}

/** The argument as plugin-plugins should see it: unchanged unless it is a local path. */
export async function localPluginSpec(arg: string, dataDir: string, cwd = process.cwd()): Promise<string> {
  if (!looksLikePath(arg)) return arg
  const path = resolve(cwd, arg.replace(/^~(?=\/)/, process.env.HOME ?? '~'))
  const kind = await stat(path).then(
    (s) => (s.isDirectory() ? 'directory' : s.isFile() ? 'file' : 'other'),
    () => 'missing',
  )
  if (kind === 'missing' || kind === 'other') {
    throw new EcError('usage', `${quote(arg)} is not a file or directory; give a plugin tarball (made by "npm pack"), a plugin's directory, or an npm package name`)
  }

  const store = join(dataDir, 'plugin-tarballs')
  await mkdir(store, {recursive: true})
  const tarball = kind === 'file' ? await keep(path, store) : await pack(path, store, arg)
  return `file:${tarball}`
}

/** A copy of the user's tarball that outlives it (npm may read it again when other plugins are installed). */
async function keep(file: string, store: string): Promise<string> {
  if (!/\.(tgz|tar\.gz)$/.test(file)) {
    throw new EcError('usage', `${quote(file)} is not a plugin tarball (*.tgz, made by "npm pack"); give one, a plugin's directory, or an npm package name`)
  }

  const kept = join(store, basename(file))
  if (resolve(file) !== kept) {
    await copyFile(file, `${kept}.tmp`)
    await rename(`${kept}.tmp`, kept)
  }

  return kept
}

/** `npm pack` of a plugin's directory (its prepack script builds it); the tarball is kept in the store. */
async function pack(dir: string, store: string, arg: string): Promise<string> {
  const scratch = await mkdtemp(join(store, '.pack-'))
  try {
    await run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['pack', '--pack-destination', scratch], {cwd: dir, maxBuffer: 16 * 2 ** 20}).catch((error) => {
      const why = String((error as {stderr?: string}).stderr ?? (error as Error).message).trim().split('\n').at(-1)
      throw new EcError('usage', `cannot pack the plugin in ${quote(arg)} with "npm pack" (${why}); check its package.json, or install a tarball`)
    })
    const [tarball] = (await readdir(scratch)).filter((f) => f.endsWith('.tgz'))
    if (!tarball) throw new EcError('usage', `"npm pack" made no tarball of ${quote(arg)}; check its package.json`)
    const kept = join(store, tarball)
    await rename(join(scratch, tarball), kept)
    return kept
  } finally {
    await rm(scratch, {recursive: true, force: true})
  }
}
