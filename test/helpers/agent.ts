// Real `ec compute start` processes, one per simulated host, each with its own
// state directory (and so its own provider uuid).
import {type ChildProcess, spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {EC_BIN} from './cli.js'

export interface RunningAgent {
  name: string
  stateDir: string
  child: ChildProcess
  output(): string
  hostId(): string
  /** SIGTERM (graceful) or SIGKILL; resolves with the exit code once it has exited. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Resolves once the agent logs `readyLine` ("is schedulable" unless an operator disabled the host). */
export async function startAgent(
  env: NodeJS.ProcessEnv,
  name: string,
  stateDir: string,
  timeoutMs = 60_000,
  readyLine = 'is schedulable',
): Promise<RunningAgent> {
  const child = spawn(process.execPath, [EC_BIN, 'compute', 'start', '--name', name, '--state-dir', stateDir], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent ${name} did not log "${readyLine}" within ${timeoutMs} ms:\n${output}`)), timeoutMs)
    const check = () => {
      if (output.includes(readyLine)) {
        clearTimeout(timer)
        resolve()
      }
    }

    child.stdout!.on('data', check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`agent ${name} exited with ${code} before it was schedulable:\n${output}`))
    })
  })
  return {
    name,
    stateDir,
    child,
    output: () => output,
    hostId: () => (JSON.parse(readFileSync(join(stateDir, 'compute', 'host.json'), 'utf8')) as {id: string}).id,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
}
