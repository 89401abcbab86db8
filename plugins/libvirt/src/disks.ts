// A guest's root disk, made from its image in the instance directory:
// `overlay` is a thin qcow2 on top of the cached image (fast, shares the
// image), `copy` a standalone qcow2 (slower, independent of the cache),
// `resize` a new disk with the image's root partition expanded into it
// (slowest; for guests that cannot grow their own root filesystem).
// Each is built under a temporary name and renamed, so a crash never leaves a
// half-made disk where define() would pick it up.
import {mkdir, readlink, rename, rm, stat, symlink} from 'node:fs/promises'
import {basename, join, resolve} from 'node:path'

import type {DiskStrategy, GuestSpec, ImageInfo, PreparedDisk, ProgressReporter} from '@ec/plugin-api'

import {LibvirtBackendError, messageOf} from './errors.js'
import {ToolFailedError} from './exec.js'
import type {InstancePaths} from './naming.js'
import {convertToQcow2, createEmpty, createOverlay, resize} from './qemu-img.js'
import {expandInto, type ResizeOptions} from './virt-resize.js'

export const GIB = 1024 ** 3

export async function prepareDisk(
  spec: GuestSpec,
  image: ImageInfo,
  strategy: DiskStrategy,
  paths: InstancePaths,
  report: ProgressReporter,
  resizeOptions: ResizeOptions,
): Promise<PreparedDisk> {
  const sizeBytes = requestedSizeBytes(spec, image)

  const path = spec.storageDir ? sharedDiskPath(spec.storageDir, spec.id) : paths.disk(spec.id)
  const building = path + '.building'
  await mkdir(paths.dir(spec.id), {recursive: true})
  if (spec.storageDir) await linkSharedDisk(spec.storageDir, path, paths.disk(spec.id))
  await rm(building, {force: true})
  report({phase: 'disk', percent: 0, message: `${strategy} of ${image.ref}`})
  try {
    if (strategy === 'overlay') {
      // Absolute, so the overlay still finds its backing file whatever the working directory.
      await createOverlay(resolve(image.path), image.format, building, sizeBytes)
    } else if (strategy === 'resize') {
      await createEmpty(building, sizeBytes)
      await expandInto(image, building, resizeOptions, report)
    } else {
      await convertToQcow2(image.path, image.format, building, (percent) => report({phase: 'disk', percent: Math.floor(percent)}))
      await resize(building, 'qcow2', sizeBytes)
    }

    await rename(building, path)
  } catch (error) {
    await rm(building, {force: true})
    if (error instanceof ToolFailedError) {
      const reason = /No space left|Disk quota/i.test(error.stderr) ? 'environment' : 'failure'
      throw new LibvirtBackendError(reason, `could not prepare the disk of instance ${spec.id} from ${image.path}: ${messageOf(error)}`, {cause: error})
    }

    throw error
  }

  report({phase: 'disk', percent: 100})
  return {path, format: 'qcow2', sizeGb: spec.diskGb}
}

/** A disk on shared storage: named after its instance, so hosts sharing the directory never collide. */
export function sharedDiskPath(storageDir: string, id: string): string {
  return join(resolve(storageDir), `${id}.qcow2`)
}

/**
 * The instance directory's disk.qcow2 becomes a link to the disk on shared
 * storage before a byte is written there, so destroy() — which knows only the
 * id — always finds what to remove, a half-made disk included.
 */
async function linkSharedDisk(storageDir: string, target: string, link: string): Promise<void> {
  const dir = await stat(storageDir).catch(() => undefined)
  if (!dir?.isDirectory()) {
    throw new LibvirtBackendError('environment', `the shared storage directory ${storageDir} does not exist on this host; mount the storage there (or fix the storage's --path)`)
  }

  const linking = link + '.linking'
  await rm(linking, {force: true})
  await symlink(target, linking)
  await rename(linking, link)
}

/** Remove the instance's disk on shared storage, if its disk.qcow2 links there (only a file named after the instance). */
export async function removeSharedDisk(paths: InstancePaths, id: string): Promise<void> {
  const target = await readlink(paths.disk(id)).catch(() => undefined)
  if (!target || basename(target) !== `${id}.qcow2`) return
  await rm(target + '.building', {force: true})
  await rm(target, {force: true})
}

/** The disk size in bytes (whole 512-byte sectors), refused when the image would not fit. */
export function requestedSizeBytes(spec: GuestSpec, image: ImageInfo): number {
  if (!(spec.diskGb > 0)) throw new LibvirtBackendError('config', `instance ${spec.id} asks for a ${spec.diskGb} GiB disk; ask for more than 0`)
  const sizeBytes = Math.ceil((spec.diskGb * GIB) / 512) * 512
  if (sizeBytes < image.virtualSizeBytes) {
    const needed = Math.ceil(image.virtualSizeBytes / GIB)
    throw new LibvirtBackendError(
      'config',
      `instance ${spec.id} asks for a ${spec.diskGb} GiB disk but image ${image.ref} is ${formatGib(image.virtualSizeBytes)} GiB; ask for at least ${needed} GiB`,
    )
  }

  return sizeBytes
}

function formatGib(bytes: number): string {
  return (bytes / GIB).toFixed(2).replace(/\.?0+$/, '')
}
