// Every qemu-img call the shared image and disk services make. Sizes are bytes throughout.
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

/** A qcow2 that stores only what the guest changes; reads fall through to the backing image. */
export async function createOverlay(backingPath: string, backingFormat: string, path: string, sizeBytes: number): Promise<void> {
  await runTool(QEMU_IMG, ['create', '-q', '-f', 'qcow2', '-b', backingPath, '-F', backingFormat, path, String(sizeBytes)], {
    timeoutMs: 60_000,
  })
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
