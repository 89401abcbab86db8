// A guest's root disk, made from its image in the guest's directory: an
// overlay (a thin qcow2 over the cached image) or a copy (a standalone
// qcow2). Built under a temporary name and renamed, so a crash never leaves a
// half-made disk that define() would pick up.
import {mkdir, rename, rm} from 'node:fs/promises'
import {dirname, resolve} from 'node:path'

import type {GuestSpec, ImageInfo, PreparedDisk, ProgressReporter} from '@ec/plugin-api'

import {messageOf, QemuBackendError} from './errors.js'
import {qemuImg, ToolFailedError} from './tools.js'

const GIB = 1024 ** 3

export async function prepareDisk(spec: GuestSpec, image: ImageInfo, strategy: string, path: string, report: ProgressReporter): Promise<PreparedDisk> {
  if (strategy !== 'overlay' && strategy !== 'copy') {
    throw new QemuBackendError('config', `the qemu backend prepares disks as overlay or copy, not ${strategy}; ask for --disk-strategy overlay or copy`)
  }

  const sizeBytes = requestedSizeBytes(spec, image)
  const building = path + '.building'
  await mkdir(dirname(path), {recursive: true})
  await rm(building, {force: true})
  report({phase: 'disk', percent: 0, message: `${strategy} of ${image.ref}`})
  try {
    if (strategy === 'overlay') {
      await qemuImg(['create', '-q', '-f', 'qcow2', '-b', resolve(image.path), '-F', image.format, building, String(sizeBytes)])
    } else {
      await qemuImg(['convert', '-f', image.format, '-O', 'qcow2', image.path, building], 3_600_000)
      await qemuImg(['resize', '-q', '-f', 'qcow2', building, String(sizeBytes)])
    }

    await rename(building, path)
  } catch (error) {
    await rm(building, {force: true})
    if (error instanceof ToolFailedError) {
      const reason = /No space left|Disk quota/i.test(error.stderr) ? 'environment' : 'failure'
      throw new QemuBackendError(reason, `could not prepare the disk of instance ${spec.id} from ${image.path}: ${messageOf(error)}`, {cause: error})
    }

    throw error
  }

  report({phase: 'disk', percent: 100})
  return {path, format: 'qcow2', sizeGb: spec.diskGb}
}

/** The disk size in bytes (whole 512-byte sectors), refused when the image would not fit. */
function requestedSizeBytes(spec: GuestSpec, image: ImageInfo): number {
  if (!(spec.diskGb > 0)) throw new QemuBackendError('config', `instance ${spec.id} asks for a ${spec.diskGb} GiB disk; ask for more than 0`)
  const sizeBytes = Math.ceil((spec.diskGb * GIB) / 512) * 512
  if (sizeBytes < image.virtualSizeBytes) {
    throw new QemuBackendError('config', `instance ${spec.id} asks for a ${spec.diskGb} GiB disk but image ${image.ref} needs ${Math.ceil(image.virtualSizeBytes / GIB)} GiB; ask for at least that`)
  }

  return sizeBytes
}
