// Every qemu-img call the shared image and disk services make. Sizes are bytes throughout.
import {readFile, stat, writeFile} from 'node:fs/promises'

import {runTool, type Tool} from './tools.js'

export const QEMU_IMG: Tool = {command: 'qemu-img', debianPackage: 'qemu-utils'}

export interface DiskImageInfo {
  format: string
  virtualSizeBytes: number
  /** The backing file as written in the image, if it has one. */
  backingFile?: string
  backingFormat?: string
}

/** Format and sizes of an image; -U reads images that running guests hold open. */
export async function imageInfo(path: string): Promise<DiskImageInfo> {
  const output = await runTool(QEMU_IMG, ['info', '-U', '--output=json', path], {timeoutMs: 60_000})
  const info = JSON.parse(output) as {
    format: string
    'virtual-size': number
    'backing-filename'?: string
    'backing-filename-format'?: string
  }
  return {
    format: info.format,
    virtualSizeBytes: info['virtual-size'],
    backingFile: info['backing-filename'],
    backingFormat: info['backing-filename-format'],
  }
}

/** An empty qcow2 of the given virtual size. */
export async function createEmpty(path: string, sizeBytes: number): Promise<void> {
  await runTool(QEMU_IMG, ['create', '-q', '-f', 'qcow2', path, String(sizeBytes)], {timeoutMs: 60_000})
}

/**
 * New overlays by what qemu-img was asked to make. A fresh overlay is a few
 * clusters that depend only on the backing file's name, its format and the
 * size (no uuid, no timestamp), so a second one is a copy of the first: no
 * qemu-img process (about 15 ms of CPU, and a fork of the agent) per build.
 */
const overlayTemplates = new Map<string, Buffer>()
/** Sizes and images a host builds from are few; a fresh overlay is about 200 KB. */
const MAX_OVERLAY_TEMPLATES = 32
const MAX_OVERLAY_TEMPLATE_BYTES = 1024 * 1024

/** A qcow2 that stores only what the guest changes; reads fall through to the backing image. */
export async function createOverlay(backingPath: string, backingFormat: string, path: string, sizeBytes: number): Promise<void> {
  const key = JSON.stringify([backingPath, backingFormat, sizeBytes])
  const template = overlayTemplates.get(key)
  // A backing file that went away is left to qemu-img, which says so.
  if (template && (await isFile(backingPath))) {
    await writeFile(path, template)
    return
  }

  await runTool(QEMU_IMG, ['create', '-q', '-f', 'qcow2', '-b', backingPath, '-F', backingFormat, path, String(sizeBytes)], {
    timeoutMs: 60_000,
  })
  const bytes = await readFile(path)
  if (bytes.length > MAX_OVERLAY_TEMPLATE_BYTES) return
  if (overlayTemplates.size >= MAX_OVERLAY_TEMPLATES) overlayTemplates.delete(overlayTemplates.keys().next().value!)
  overlayTemplates.set(key, bytes)
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  )
}

/** A standalone qcow2 copy of the image; onPercent follows qemu-img's own progress. */
export async function convertToQcow2(
  sourcePath: string,
  sourceFormat: string,
  path: string,
  onPercent?: (percent: number) => void,
): Promise<void> {
  await runTool(QEMU_IMG, ['convert', '-p', '-f', sourceFormat, '-O', 'qcow2', sourcePath, path], {
    onStdout(chunk) {
      // qemu-img -p prints "    (12.34/100%)" and rewrites it with \r.
      const matches = [...chunk.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)]
      const last = matches.at(-1)
      if (last && onPercent) onPercent(Number(last[1]))
    },
  })
}

export async function resize(path: string, format: string, sizeBytes: number): Promise<void> {
  await runTool(QEMU_IMG, ['resize', '-q', '-f', format, path, String(sizeBytes)], {timeoutMs: 60_000})
}
