// A guest's root disk, made from its image in the instance directory by
// @ec/plugin-api/disks: `overlay` and `copy` as every hypervisor makes them,
// plus libvirt's own `resize` — a new disk with the image's root partition
// expanded into it by libguestfs's virt-resize (slowest; for guests that
// cannot grow their own root filesystem).
import type {DiskStrategy, GuestSpec, ImageInfo, PreparedDisk, ProgressReporter} from '@ec/plugin-api'
import {createEmpty, prepareDisk as prepareQcow2Disk} from '@ec/plugin-api/disks'

import type {InstancePaths} from './naming.js'
import {expandInto, type ResizeOptions} from './virt-resize.js'

export {GIB, removeSharedDisk, requestedSizeBytes, sharedDiskPath} from '@ec/plugin-api/disks'

export async function prepareDisk(
  spec: GuestSpec,
  image: ImageInfo,
  strategy: DiskStrategy,
  paths: InstancePaths,
  report: ProgressReporter,
  resizeOptions: ResizeOptions,
): Promise<PreparedDisk> {
  return prepareQcow2Disk(spec, image, {
    guestDir: paths.dir(spec.id),
    strategy,
    report,
    builders: {
      async resize(image, path, sizeBytes, report) {
        await createEmpty(path, sizeBytes)
        await expandInto(image, path, resizeOptions, report)
      },
    },
  })
}
