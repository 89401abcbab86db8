// Is the qemu of a guest running? The pidfile says which process it was; the
// process must still be alive (not a zombie nobody reaped) and still be that
// guest's qemu (its command line names the guest's QMP socket), so a reused
// pid is never taken for the guest.
import {readFile} from 'node:fs/promises'

export async function readPid(pidfile: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(pidfile, 'utf8')).trim())
    return Number.isInteger(pid) && pid > 1 ? pid : undefined
  } catch {
    return undefined
  }
}

/** The guest's qemu process, if it runs. */
export async function runningQemu(pidfile: string, qmpSocket: string): Promise<number | undefined> {
  const pid = await readPid(pidfile)
  if (pid === undefined) return undefined
  return (await isGuestProcess(pid, qmpSocket)) ? pid : undefined
}

export async function isGuestProcess(pid: number, qmpSocket: string): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')
    return cmdline.some((arg) => arg.includes(qmpSocket))
  } catch {
    return false // gone
  }
}

/** Resolves true once the process is gone, false if it still runs at the deadline. */
export async function waitGone(pid: number, qmpSocket: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (!(await isGuestProcess(pid, qmpSocket))) return true
    if (Date.now() >= deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
