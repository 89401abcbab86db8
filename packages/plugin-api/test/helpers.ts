// Shared by the tests of @ec/plugin-api's services: scratch directories, tiny images, rejections.
import {execFileSync} from 'node:child_process'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

export async function scratchDir(): Promise<{path: string; remove: () => Promise<void>}> {
  const path = await mkdtemp(join(tmpdir(), 'ec-plugin-api-'))
  return {path, remove: () => rm(path, {recursive: true, force: true})}
}

/** A blank qcow2 of the given virtual size, e.g. "64M". */
export function makeQcow2(path: string, size: string): void {
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, size])
}

/** What `promise` rejects with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error & {reason?: string}> {
  try {
    await promise
  } catch (error) {
    return error as Error & {reason?: string}
  }

  throw new Error('expected the call to fail, but it succeeded')
}
