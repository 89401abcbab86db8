// One owner at a time per state directory: `ec up`/`ec down` for the control
// plane, one `ec compute start` for an agent's directory. The lock file holds
// the owner's pid, so a lock left by a crashed run is recognised and taken over.
import {mkdir, open, readFile, rm} from 'node:fs/promises'
import {join} from 'node:path'

import {EcError} from '../errors.js'
import {isRunning} from './processes.js'

export interface LockSpec {
  dir: string
  /** File name inside `dir`. */
  name: string
  /** Who usually holds it, for the message when it is taken: "another ec up or ec down". */
  holder: string
}

export async function withStateLock<T>(lock: LockSpec, work: () => Promise<T>): Promise<T> {
  const lockFile = join(lock.dir, lock.name)
  await mkdir(lock.dir, {recursive: true})
  await acquire(lockFile, lock.holder)
  try {
    return await work()
  } finally {
    await rm(lockFile, {force: true})
  }
}

async function acquire(lockFile: string, holder: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockFile, 'wx')
      await handle.writeFile(`${process.pid}\n`)
      await handle.close()
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }

    const owner = Number((await readFile(lockFile, 'utf8').catch(() => '')).trim())
    if (Number.isInteger(owner) && owner > 0 && isRunning(owner)) {
      throw new EcError('conflict', `${holder} (pid ${owner}) is using ${lockFile}; wait for it or stop it`)
    }

    await rm(lockFile, {force: true}) // left by a run that died: take it over
  }

  throw new EcError('conflict', `cannot take the lock ${lockFile}; remove it if no ec is running`)
}
