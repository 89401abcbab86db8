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
