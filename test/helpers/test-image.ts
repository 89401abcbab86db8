import {execFileSync} from 'node:child_process'
import {join} from 'node:path'

import {REPO_ROOT} from './cli.js'

/** ec's test image (scripts/build-test-image.sh), built once and reused while its inputs are unchanged. */
export function testImage(): string {
  const output = join(REPO_ROOT, 'build', 'test-image', 'ec-test.qcow2')
  execFileSync('bash', [join(REPO_ROOT, 'scripts', 'build-test-image.sh'), output], {stdio: ['ignore', 'ignore', 'inherit']})
  return output
}
