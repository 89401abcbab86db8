// Fault injection for the fault suite, in the manner of etcd's gofail:
// EC_FAILPOINTS="disk=crash" makes the agent kill itself (SIGKILL, as a power
// cut would) when a build reaches that point, so a test can crash it at each
// build phase deterministically instead of racing a timer. Unset, it costs
// one environment lookup per point. "boot=pause:FILE" holds a build at that
// point until FILE exists (and removes it, so the next build holds again):
// a test does something in between, e.g. takes the port the guest was given.
import {rm, stat} from 'node:fs/promises'
import {setTimeout as sleep} from 'node:timers/promises'

const CRASH = 'crash'
const PAUSE = 'pause:'

export function failpoint(point: string): void {
  const spec = process.env.EC_FAILPOINTS
  if (!spec) return
  for (const entry of spec.split(',')) {
    const [name, action] = entry.split('=').map((part) => part.trim())
    if (name === point && action === CRASH) process.kill(process.pid, 'SIGKILL')
  }
}

/** At a pause point: wait for the file the failpoint names, then remove it. */
export async function pausepoint(point: string): Promise<void> {
  const spec = process.env.EC_FAILPOINTS
  if (!spec) return
  for (const entry of spec.split(',')) {
    const [name, action] = entry.split('=').map((part) => part.trim())
    if (name !== point || !action?.startsWith(PAUSE)) continue
    const file = action.slice(PAUSE.length)
    while (!(await stat(file).then(() => true, () => false))) await sleep(100)
    await rm(file, {force: true})
  }
}
