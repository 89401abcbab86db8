// Pid files and detached daemons. A pid file is trusted only while its process
// is alive, not a zombie, and still runs the binary we started (pids get reused).
import {spawn} from 'node:child_process'
import {closeSync, openSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'

export type PidState = {kind: 'none'} | {kind: 'running'; pid: number} | {kind: 'stale'; pid: number | undefined}

export function readPidFile(pidFile: string, processName: string): PidState {
  let text: string
  try {
    text = readFileSync(pidFile, 'utf8').trim()
  } catch (error) {
    // ENOTDIR: a parent is a file, so there is no pid file (the state dir check says what is wrong).
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return {kind: 'none'}
    throw error
  }

  const pid = /^\d+$/.test(text) ? Number(text) : undefined
  if (pid !== undefined && isRunning(pid, processName)) return {kind: 'running', pid}
  return {kind: 'stale', pid}
}

/** Alive, not a zombie, and its command line names `processName`. */
export function isRunning(pid: number, processName?: string): boolean {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return false
  }

  // Field 3, after the parenthesised command name, is the state; Z = zombie, X = dead.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  if (state === 'Z' || state === 'X') return false
  if (!processName) return true
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    return cmdline.some((part) => part === processName || part.endsWith('/' + processName))
  } catch {
    return false
  }
}

export interface DaemonSpec {
  command: string
  args: string[]
  env?: Record<string, string>
  cwd: string
  logFile: string
  pidFile: string
}

/** Start a process that outlives us: own session, output appended to its log. */
export function startDaemon(spec: DaemonSpec): number {
  const log = openSync(spec.logFile, 'a')
  try {
    writeFileSync(log, `--- ${new Date().toISOString()} ec starting: ${spec.command} ${spec.args.join(' ')}\n`)
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: {...process.env, ...spec.env},
      detached: true,
      stdio: ['ignore', log, log],
    })
    if (child.pid === undefined) throw new Error(`could not start ${spec.command}`)
    child.unref()
    writeFileSync(spec.pidFile, `${child.pid}\n`)
    return child.pid
  } finally {
    closeSync(log)
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(pid: number, graceMs = 10_000): Promise<'stopped' | 'killed'> {
  signal(pid, 'SIGTERM')
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    if (!isRunning(pid)) return 'stopped'
    await sleep(50)
  }

  signal(pid, 'SIGKILL')
  while (isRunning(pid)) await sleep(20)
  return 'killed'
}

export function removeFile(path: string): void {
  rmSync(path, {force: true})
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
  }
}

export function tailOfFile(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return ''
  }
}
