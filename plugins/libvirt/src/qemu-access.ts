// qemu under the system libvirtd runs as its own user (libvirt-qemu on
// Debian), so every directory above a guest's disk must be searchable by
// others. Checked at start, so a wrong directory is one clear error instead of
// a permission failure at the first boot.
import {stat} from 'node:fs/promises'
import {dirname} from 'node:path'

import {LibvirtBackendError} from './errors.js'

/** `what` names the setting to change (a config key) or the thing to move. */
export async function checkReachableByQemu(dir: string, what: string): Promise<void> {
  for (let current = dirname(dir); ; current = dirname(current)) {
    const {mode} = await stat(current)
    if ((mode & 0o001) === 0) {
      throw new LibvirtBackendError(
        'environment',
        `qemu (run by the system libvirtd as its own user) cannot reach ${dir}: ${current} is not searchable by others (mode ${(mode & 0o777).toString(8)}); move ${what} elsewhere (e.g. under /var/lib/ec) or chmod o+x ${current}`,
      )
    }

    if (current === dirname(current)) return
  }
}
