// @ec/plugin-api/disks: a guest's root disk made from its image, the same for
// every hypervisor that runs qcow2 disks. `overlay` is a thin qcow2 on top of
// the cached image (fast, shares the image), `copy` a standalone qcow2
// (slower, independent of the cache); a backend adds strategies of its own
// (libvirt's `resize`) as builders. Each is built under a temporary name and
// renamed, so a crash never leaves a half-made disk where define() would pick
// it up. On shared storage (GuestSpec.storageDir) the disk is
// `<storageDir>/<id>.qcow2` and the guest's directory keeps `disk.qcow2` as a
// link to it, made first, so destroy() always finds it (removeSharedDisk()).
import {mkdir, readlink, rename, rm, stat, symlink} from 'node:fs/promises'
import {basename, join, resolve} from 'node:path'

import {EcError, messageOf} from './errors.js'
import type {DiskStrategy, GuestSpec, ImageInfo, PreparedDisk, ProgressReporter} from './hypervisor.js'
import {convertToQcow2, createOverlay, imageInfo, resize} from './qemu-img.js'
import {isToolFailure} from './tools.js'

export {convertToQcow2, createEmpty, createOverlay, type DiskImageInfo, imageInfo, QEMU_IMG, resize} from './qemu-img.js'

export const GIB = 1024 ** 3

/** The name of a guest's disk in its directory. */
export const DISK_FILE = 'disk.qcow2'

/** Builds a disk of `sizeBytes` from `image` at `path` (a new file, renamed into place when this resolves). */
export type DiskBuilder = (image: ImageInfo, path: string, sizeBytes: number, report: ProgressReporter) => Promise<void>

export interface PrepareDiskOptions {
  /** The guest's own directory: `disk.qcow2` (or the link to it on shared storage) goes there. */
  guestDir: string
  strategy: DiskStrategy
  report: ProgressReporter
  /** Strategies beyond overlay and copy (e.g. resize); they replace the built-in ones of the same name. */
  builders?: Partial<Record<DiskStrategy, DiskBuilder>>
}

const BUILDERS: Partial<Record<DiskStrategy, DiskBuilder>> = {
  // Absolute, so the overlay still finds its backing file whatever the working directory.
  overlay: (image, path, sizeBytes) => createOverlay(resolve(image.path), image.format, path, sizeBytes),
  async copy(image, path, sizeBytes, report) {
    await convertToQcow2(image.path, image.format, path, (percent) => report({phase: 'disk', percent: Math.floor(percent)}))
    await resize(path, 'qcow2', sizeBytes)
  },
}

/** The strategies prepareDisk() runs with these builders. */
export function diskStrategies(builders: PrepareDiskOptions['builders'] = {}): DiskStrategy[] {
  return (['overlay', 'copy', 'resize'] as const).filter((s) => (builders[s] ?? BUILDERS[s]) !== undefined)
}

/** HypervisorBackend.prepareDisk(): the guest's qcow2 root disk, in its directory or on its shared storage. */
export async function prepareDisk(spec: GuestSpec, image: ImageInfo, options: PrepareDiskOptions): Promise<PreparedDisk> {
  const {guestDir, strategy, report} = options
  const build = options.builders?.[strategy] ?? BUILDERS[strategy]
  if (!build) {
    throw new EcError('config', `this hypervisor prepares disks as ${diskStrategies(options.builders).join(' or ')}, not ${strategy}; ask for another --disk-strategy`)
  }

  const sizeBytes = requestedSizeBytes(spec, image)
  const link = join(guestDir, DISK_FILE)
  const path = spec.storageDir ? sharedDiskPath(spec.storageDir, spec.id) : link
  const building = path + '.building'
  await mkdir(guestDir, {recursive: true})
  if (spec.storageDir) await linkSharedDisk(spec.storageDir, path, link)
  await rm(building, {force: true})
  report({phase: 'disk', percent: 0, message: `${strategy} of ${image.ref}`})
  try {
    await build(image, building, sizeBytes, report)
    await rename(building, path)
  } catch (error) {
    await rm(building, {force: true})
    if (isToolFailure(error)) {
      const reason = /No space left|Disk quota/i.test(error.stderr) ? 'environment' : 'failure'
      throw new EcError(reason, `could not prepare the disk of instance ${spec.id} from ${image.path}: ${messageOf(error)}`, {cause: error})
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
 * The guest directory's disk.qcow2 becomes a link to the disk on shared
 * storage before a byte is written there, so destroy() — which knows only the
 * id — always finds what to remove, a half-made disk included.
 */
async function linkSharedDisk(storageDir: string, target: string, link: string): Promise<void> {
  const dir = await stat(storageDir).catch(() => undefined)
  if (!dir?.isDirectory()) {
    throw new EcError('environment', `the shared storage directory ${storageDir} does not exist on this host; mount the storage there (or fix the storage's --path)`)
  }

  const linking = link + '.linking'
  await rm(linking, {force: true})
  await symlink(target, linking)
  await rename(linking, link)
}

/** For destroy(), before the guest's directory goes: the disk on shared storage its disk.qcow2 links to (only a file named after the instance). */
export async function removeSharedDisk(guestDir: string, id: string): Promise<void> {
  const target = await readlink(join(guestDir, DISK_FILE)).catch(() => undefined)
  if (!target || basename(target) !== `${id}.qcow2`) return
  await rm(target + '.building', {force: true})
  await rm(target, {force: true})
}

/** The images these guests' disks are overlays of (absolute paths): what listImages() marks in use. */
export async function backingFiles(guestDirs: string[]): Promise<Set<string>> {
  const used = new Set<string>()
  for (const dir of guestDirs) {
    const disk = await imageInfo(join(dir, DISK_FILE)).catch(() => undefined)
    if (disk?.backingFile) used.add(resolve(dir, disk.backingFile))
  }

  return used
}

/** The disk size in bytes (whole 512-byte sectors), refused when the image would not fit. */
export function requestedSizeBytes(spec: GuestSpec, image: ImageInfo): number {
  if (!(spec.diskGb > 0)) throw new EcError('config', `instance ${spec.id} asks for a ${spec.diskGb} GiB disk; ask for more than 0`)
  const sizeBytes = Math.ceil((spec.diskGb * GIB) / 512) * 512
  if (sizeBytes < image.virtualSizeBytes) {
    const needed = Math.ceil(image.virtualSizeBytes / GIB)
    throw new EcError(
      'config',
      `instance ${spec.id} asks for a ${spec.diskGb} GiB disk but image ${image.ref} is ${formatGib(image.virtualSizeBytes)} GiB; ask for at least ${needed} GiB`,
    )
  }

  return sizeBytes
}

function formatGib(bytes: number): string {
  return (bytes / GIB).toFixed(2).replace(/\.?0+$/, '')
}
