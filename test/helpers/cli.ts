// Runs the built ec CLI (bin/run.js) as a user would, in an environment of
// its own: HOME and every XDG directory point into a temp dir, so no config,
// state or plugin of the machine leaks in.
import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const EC_BIN = join(REPO_ROOT, 'bin', 'run.js')

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export interface Sandbox {
  dir: string
  env: NodeJS.ProcessEnv
  cleanup(): void
}

export function makeSandbox(prefix = 'ec-test-'): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_STATE_HOME: join(dir, 'state'),
    XDG_DATA_HOME: join(dir, 'data'),
    XDG_CACHE_HOME: join(dir, 'cache'),
    NODE_OPTIONS: '',
  }
  return {dir, env, cleanup: () => rmSync(dir, {recursive: true, force: true})}
}

export function runEc(
  args: string[],
  options: {env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number} = {},
): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [EC_BIN, ...args],
      {env: options.env ?? process.env, cwd: options.cwd, timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 << 20},
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
        // Say so when the run was killed (its time-out), or the output reads like ec's own failure.
        if (error?.killed) stderr += `\n[runEc: killed by ${error.signal ?? 'a signal'} after ${options.timeoutMs ?? 120_000} ms]`
        resolvePromise({code, stdout, stderr})
      },
    )
  })
}

/** Parse the JSON document a --json run printed, with the output in the error when it is not JSON. */
export function parseJson<T = unknown>(result: RunResult): T {
  try {
    return JSON.parse(result.stdout) as T
  } catch {
    throw new Error(`not JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`)
  }
}
