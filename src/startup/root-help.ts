// `ec --help` without loading oclif. The root help lists every command of
// every installed plugin, so oclif has to load them all to write it; its text
// only changes when ec, a plugin, the terminal or the colour settings do. The
// first `ec --help` is written by oclif and kept under a key of exactly those
// inputs; later ones print the kept text. Only node built-ins here: this runs
// before anything else is loaded.
import {mkdirSync, readFileSync, renameSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {dirs} from './dirs.js'

/** cyrb53: a fast 53-bit string hash; node:crypto would cost more to load than the help costs to print. */
function hash(text: string): string {
  let h1 = 0xde_ad_be_ef
  let h2 = 0x41_c6_ce_57
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 2_654_435_761)
    h2 = Math.imul(h2 ^ c, 1_597_334_677)
  }

  h1 = Math.imul(h1 ^ (h1 >>> 16), 2_246_822_507) ^ Math.imul(h2 ^ (h2 >>> 13), 3_266_489_909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2_246_822_507) ^ Math.imul(h1 ^ (h1 >>> 13), 3_266_489_909)
  return (4_294_967_296 * (2_097_151 & h2) + (h1 >>> 0)).toString(16)
}

function stamp(path: string): string {
  try {
    const s = statSync(path)
    return `${s.mtimeMs}:${s.size}`
  } catch {
    return '-'
  }
}

/** The kept help's file for this installation, plugin set, terminal and colour settings. */
export function rootHelpFile(root: string, argv: string[], env: NodeJS.ProcessEnv = process.env, stdout = process.stdout): string {
  const {cacheDir, dataDir} = dirs(env)
  const key = [
    root,
    argv.join(' '),
    stamp(join(root, 'package.json')),
    stamp(join(root, 'oclif.manifest.json')),
    stamp(join(dataDir, 'package.json')), // plugins installed or linked by the user
    process.version,
    process.platform,
    process.arch,
    stdout.isTTY ? `tty:${stdout.columns}` : 'pipe',
    ...['OCLIF_COLUMNS', 'NO_COLOR', 'FORCE_COLOR', 'TERM', 'COLORTERM'].map((v) => env[v] ?? ''),
  ].join('\n')
  return join(cacheDir, 'help', `root-${hash(key)}.txt`)
}

export function readRootHelp(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/** Run `write` (oclif printing the help) and keep what it wrote to stdout. */
export async function recordRootHelp(file: string, write: () => Promise<void>): Promise<void> {
  const chunks: string[] = []
  const original = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'))
    return (original as (...args: unknown[]) => boolean)(chunk, ...rest)
  }) as typeof process.stdout.write
  let ok = false
  try {
    await write()
    ok = !process.exitCode // oclif reports its failures through the exit code
  } finally {
    process.stdout.write = original
    if (ok && chunks.length > 0) {
      try {
        mkdirSync(join(file, '..'), {recursive: true})
        writeFileSync(`${file}.${process.pid}`, chunks.join(''))
        renameSync(`${file}.${process.pid}`, file)
      } catch {
        // A cache we cannot write only costs speed.
      }
    }
  }
}
