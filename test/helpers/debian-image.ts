import {execFileSync} from 'node:child_process'
import {join} from 'node:path'

import {REPO_ROOT} from './cli.js'

/**
 * The Debian 12 cloud image (scripts/build-debian-image.sh), built once and
 * reused while the package versions are unchanged. The first build downloads
 * some 190 packages and takes minutes.
 */
export function debianImage(): string {
  // In a machine-wide cache, not the checkout: a fresh clone on the same
  // machine (CI's) reuses it, and the script's own key (package versions, the
  // script) decides when to build it again. Not under /root: the system
  // libvirtd's qemu (libvirt-qemu) must read it.
  const output = join(process.env.EC_TEST_CACHE_DIR ?? '/var/cache/ec-tests', 'debian-image', 'debian-12.qcow2')
  execFileSync('bash', [join(REPO_ROOT, 'scripts', 'build-debian-image.sh'), output], {stdio: ['ignore', 'ignore', 'inherit'], timeout: 3_600_000})
  return output
}
