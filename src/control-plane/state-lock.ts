// One `ec up`/`ec down` at a time per state directory. The lock file holds
// the owner's pid, so a lock left by a crashed run is recognised and taken over.
import {open, readFile, rm} from 'node:fs/promises'
import {join} from 'node:path'

import {EcError} from '../errors.js'
import {isRunning} from './processes.js'

export async function withStateLock<T>(stateDir: string, what: string, work: () => Promise<T>): Promise<T> {
  const lockFile = join(stateDir, 'control-plane.lock')
  await acquire(lockFile, what)
  try {
    return await work()
  } finally {
    await rm(lockFile, {force: true})
  }
}

async function acquire(lockFile: string, what: string): Promise<void> {
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
      throw new EcError('conflict', `another ec up or ec down (pid ${owner}) is working on this state directory; wait for it to finish`)
    }

    await rm(lockFile, {force: true}) // left by a run that died: take it over
  }

  throw new EcError('conflict', `cannot take the lock ${lockFile} for ec ${what}; remove it if no ec is running`)
}
