// Runs Debian's openssl: every certificate ec makes comes from it, so no
// ASN.1 is written by hand here.
import {execFile} from 'node:child_process'

import {EcError} from '../errors.js'

export async function openssl(args: string[], options: {cwd?: string} = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, {cwd: options.cwd, maxBuffer: 1 << 20}, (error, stdout, stderr) => {
      if (!error) return resolve(stdout)
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(
          new EcError('missingDependency', "openssl is not installed; install Debian's openssl package (scripts/install-system-deps.sh installs everything ec needs)"),
        )
      }

      const reason = stderr.trim().split('\n').find((line) => line.trim() !== '') ?? error.message
      reject(new EcError('failure', `openssl ${args[0]} failed: ${reason}`, {details: stderr.trim()}))
    })
  })
}
