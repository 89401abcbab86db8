import {readdirSync, readFileSync} from 'node:fs'

/** Live (non-zombie) processes whose command line mentions `needle`, e.g. a sandbox dir. */
export function processesMentioning(needle: string): Array<{pid: number; cmdline: string}> {
  const found: Array<{pid: number; cmdline: string}> = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ')
      if (cmdline.includes(needle) && Number(entry) !== process.pid) found.push({pid: Number(entry), cmdline})
    } catch {
      // the process ended while we looked
    }
  }

  return found
}

/**
 * Live processes that mention `needle` in their command line or their
 * environment (e.g. EC_CONFIG pointing into a sandbox): finds what a script
 * started even when its arguments do not name the sandbox.
 */
export function processesReferring(needle: string): Array<{pid: number; cmdline: string}> {
  const byCmdline = processesMentioning(needle)
  const found = new Map(byCmdline.map((p) => [p.pid, p]))
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || found.has(Number(entry)) || Number(entry) === process.pid) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue
      if (!readFileSync(`/proc/${entry}/environ`, 'utf8').includes(needle)) continue
      found.set(Number(entry), {pid: Number(entry), cmdline: readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ')})
    } catch {
      // the process ended while we looked, or is not ours to read
    }
  }

  return [...found.values()]
}
