// @ec/plugin-api/tools: runs the command-line tools a backend needs
// (qemu-img, virsh, virt-resize, …) with argument arrays — never a shell —
// and turns a missing binary into a `missingDependency` error that names the
// Debian package that installs it.
import {spawn} from 'node:child_process'

import {EcError} from './errors.js'

export interface Tool {
  command: string
  /** The Debian package that installs it. */
  debianPackage: string
  /** Added to the "not installed" message, e.g. "or set qemu.binary". */
  hint?: string
}

export interface RunOptions {
  timeoutMs?: number
  /** Sees stdout as it arrives (progress output). */
  onStdout?: (chunk: string) => void
  /** Added to the environment. */
  env?: Record<string, string>
}

/** The tool ran and exited non-zero (or timed out); callers decide what that means. */
export class ToolFailedError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${command} failed${exitCode === null ? '' : ` (exit ${exitCode})`}: ${firstLine(stderr) || 'no error output'}`)
    this.name = 'ToolFailedError'
  }
}

/** A ToolFailedError, from this copy of @ec/plugin-api or another one (a plugin may bring its own). */
export function isToolFailure(error: unknown): error is ToolFailedError {
  return error instanceof Error && error.name === 'ToolFailedError' && typeof (error as Partial<ToolFailedError>).stderr === 'string'
}

/** Runs the tool; resolves with its stdout when it exits 0. */
export async function runTool(tool: Tool, args: string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool.command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ? {...process.env, ...options.env} : process.env,
    })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true
            child.kill('SIGKILL')
          }, options.timeoutMs)
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      options.onStdout?.(chunk)
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      if (error.code === 'ENOENT') {
        const hint = tool.hint ? ` ${tool.hint}` : ''
        reject(new EcError('missingDependency', `${tool.command} is not installed; install Debian's ${tool.debianPackage} (apt-get install ${tool.debianPackage})${hint}`, {cause: error}))
      } else {
        reject(error)
      }
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      if (timedOut) reject(new ToolFailedError(tool.command, null, `no answer within ${options.timeoutMs! / 1000} s`))
      else if (code === 0) resolve(stdout)
      else reject(new ToolFailedError(tool.command, code, stderr))
    })
  })
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? ''
}
