import {readdirSync, readFileSync} from 'node:fs'

/** Live (non-zombie) processes other than this one, with a reader for their /proc files. */
function* liveProcesses(): Generator<{pid: number; read(file: 'cmdline' | 'environ'): string}> {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue
    } catch {
      continue // the process ended while we looked
    }

    yield {pid: Number(entry), read: (file) => readFileSync(`/proc/${entry}/${file}`, 'utf8').replaceAll('\0', ' ')}
  }
}

/** Live (non-zombie) processes whose command line mentions `needle`, e.g. a sandbox dir. */
export function processesMentioning(needle: string): Array<{pid: number; cmdline: string}> {
  return processesWhere(needle, ['cmdline'])
}

/**
 * Live processes that mention `needle` in their command line or their
 * environment (e.g. EC_CONFIG pointing into a sandbox): finds what a script
 * started even when its arguments do not name the sandbox.
 */
export function processesReferring(needle: string): Array<{pid: number; cmdline: string}> {
  return processesWhere(needle, ['cmdline', 'environ'])
}

function processesWhere(needle: string, files: Array<'cmdline' | 'environ'>): Array<{pid: number; cmdline: string}> {
  const found: Array<{pid: number; cmdline: string}> = []
  for (const {pid, read} of liveProcesses()) {
    try {
      if (files.some((file) => read(file).includes(needle))) found.push({pid, cmdline: read('cmdline')})
    } catch {
      // the process ended while we looked, or is not ours to read
    }
  }

  return found
}
