// Fault injection for the fault suite, in the manner of etcd's gofail:
// EC_FAILPOINTS="disk=crash" makes the agent kill itself (SIGKILL, as a power
// cut would) when a build reaches that point, so a test can crash it at each
// build phase deterministically instead of racing a timer. Unset, it costs
// one environment lookup per point.
const CRASH = 'crash'

export function failpoint(point: string): void {
  const spec = process.env.EC_FAILPOINTS
  if (!spec) return
  for (const entry of spec.split(',')) {
    const [name, action] = entry.split('=').map((part) => part.trim())
    if (name === point && action === CRASH) process.kill(process.pid, 'SIGKILL')
  }
}
