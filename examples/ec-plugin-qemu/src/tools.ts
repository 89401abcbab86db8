// Runs qemu-img and qemu with argument arrays (never a shell); a missing
// binary is a `missingDependency` error naming the Debian package.
import {execFile} from 'node:child_process'

import {QemuBackendError} from './errors.js'

export interface ToolResult {
  stdout: string
  stderr: string
}

export class ToolFailedError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
    code: number | string | null | undefined,
  ) {
    super(`${command} failed${code == null ? '' : ` (exit ${code})`}: ${stderr.trim().split('\n')[0] || 'no error output'}`)
    this.name = 'ToolFailedError'
  }
}

export function runTool(command: string, args: string[], debianPackage: string, timeoutMs = 60_000): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    execFile(command, args, {timeout: timeoutMs, maxBuffer: 16 << 20}, (error, stdout, stderr) => {
      if (!error) return resolve({stdout, stderr})
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(new QemuBackendError('missingDependency', `${command} is not installed; install Debian's ${debianPackage} (apt-get install ${debianPackage}) or set qemu.binary`))
      }

      reject(new ToolFailedError(command, error.killed ? `no answer within ${timeoutMs / 1000} s` : stderr, error.code))
    })
  })
}

export const qemuImg = (args: string[], timeoutMs?: number) => runTool('qemu-img', args, 'qemu-utils', timeoutMs)
