// Builds a small ISO 9660 image (Rock Ridge + Joliet) from in-memory files
// with genisoimage, or xorriso's mkisofs emulation when genisoimage is
// missing. Argument arrays through execFile: never a shell.
import {execFile} from 'node:child_process'
import {mkdtemp, rename, rm, writeFile} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'

import {MetadataBackendError} from './errors.js'

interface IsoTool {
  command: string
  /** Arguments before the common mkisofs-style ones. */
  prefix: string[]
  debianPackage: string
}

const TOOLS: IsoTool[] = [
  {command: 'genisoimage', prefix: [], debianPackage: 'genisoimage'},
  {command: 'xorriso', prefix: ['-as', 'genisoimage'], debianPackage: 'xorriso'},
]

export interface IsoFile {
  name: string
  contents: string | Buffer
}

/** Write `files` into an ISO at `output` (atomically: built beside it, then renamed). */
export async function buildIso(output: string, volumeId: string, files: IsoFile[]): Promise<void> {
  const staging = await mkdtemp(join(dirname(output), '.staging-'))
  const partial = join(dirname(output), `.${basename(output)}.partial`)
  try {
    for (const file of files) await writeFile(join(staging, file.name), file.contents, {mode: 0o644})
    const args = ['-quiet', '-output', partial, '-volid', volumeId, '-joliet', '-rock', ...files.map((f) => join(staging, f.name))]
    await runFirstAvailable(args)
    await rename(partial, output)
  } finally {
    await rm(staging, {recursive: true, force: true})
    await rm(partial, {force: true})
  }
}

/** Which ISO tool this machine has, if any. */
export async function availableIsoTool(): Promise<string | undefined> {
  for (const tool of TOOLS) {
    try {
      await run(tool.command, [...tool.prefix, '-version'])
      return tool.command
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return tool.command
    }
  }

  return undefined
}

async function runFirstAvailable(args: string[]): Promise<void> {
  for (const tool of TOOLS) {
    try {
      await run(tool.command, [...tool.prefix, ...args])
      return
    } catch (error) {
      const e = error as NodeJS.ErrnoException & {stderr?: string}
      if (e.code === 'ENOENT') continue
      const detail = (e.stderr ?? '').trim().split('\n').find((l) => l.trim()) ?? e.message
      throw new MetadataBackendError('failure', `${tool.command} could not build the config drive: ${detail}`, {cause: error})
    }
  }

  throw new MetadataBackendError(
    'missingDependency',
    `neither genisoimage nor xorriso is installed; install Debian's genisoimage (apt-get install genisoimage)`,
  )
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, {timeout: 60_000, maxBuffer: 1024 * 1024}, (error, _stdout, stderr) => {
      if (error) reject(Object.assign(error, {stderr: String(stderr)}))
      else resolve()
    })
  })
}
