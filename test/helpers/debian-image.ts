import {execFileSync} from 'node:child_process'
import {join} from 'node:path'

import {REPO_ROOT} from './cli.js'

/**
 * The Debian 12 cloud image (scripts/build-debian-image.sh), built once and
 * reused while the package versions are unchanged. The first build downloads
 * some 190 packages and takes minutes.
 */
export function debianImage(): string {
  const output = join(REPO_ROOT, 'build', 'debian-image', 'debian-12.qcow2')
  execFileSync('bash', [join(REPO_ROOT, 'scripts', 'build-debian-image.sh'), output], {stdio: ['ignore', 'ignore', 'inherit'], timeout: 3_600_000})
  return output
}
