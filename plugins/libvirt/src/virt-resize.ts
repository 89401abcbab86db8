// etcd-compute's way of making a bigger root disk: a new, empty disk of the
// requested size and `virt-resize --expand` of the image's root partition
// into it (libguestfs), for guests that cannot grow their own filesystem.
// libguestfs boots a small appliance under qemu; where KVM is unusable (as
// nested here) it must be told to use TCG, or its qemu aborts.
import type {ProgressReporter} from '@ec/plugin-api'

import {runTool, type Tool} from '@ec/plugin-api/tools'

const VIRT_RESIZE: Tool = {command: 'virt-resize', debianPackage: 'libguestfs-tools'}

export interface ResizeOptions {
  /** The partition of the image that takes the extra space, e.g. /dev/sda1. */
  partition: string
  /** Run libguestfs's appliance under TCG (when guests do). */
  forceTcg: boolean
}

export async function expandInto(
  image: {path: string; format: string},
  output: string,
  options: ResizeOptions,
  report: ProgressReporter,
): Promise<void> {
  await runTool(
    VIRT_RESIZE,
    ['--expand', options.partition, '--format', image.format, '--output-format', 'qcow2', image.path, output],
    {
      timeoutMs: 20 * 60_000,
      env: {LIBGUESTFS_BACKEND: 'direct', ...(options.forceTcg ? {LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg'} : {})},
      // Lines like "[  16.3] Copying /dev/sda1" say where it is.
      onStdout(chunk) {
        for (const line of chunk.split('\n')) {
          const step = /^\[\s*[\d.]+\]\s+(.+)$/.exec(line.trim())
          if (step) report({phase: 'disk', message: step[1]})
        }
      },
    },
  )
}
