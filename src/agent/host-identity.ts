// The host's provider uuid lives in the agent's state directory, so a restart
// reuses its provider (etcd-compute created a new, orphaned one every start).
import {randomUUID} from 'node:crypto'
import {mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {EcError} from '../errors.js'

export interface HostIdentity {
  id: string
  name: string
}

export async function loadOrCreateIdentity(stateDir: string, name: string): Promise<HostIdentity> {
  const file = join(stateDir, 'host.json')
  let stored: Partial<HostIdentity> | undefined
  try {
    stored = JSON.parse(await readFile(file, 'utf8')) as Partial<HostIdentity>
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new EcError('environment', `cannot read the host identity ${file}: ${(error as Error).message}; fix or remove it`)
    }
  }

  if (stored && typeof stored.id === 'string') {
    if (stored.name !== name) {
      throw new EcError(
        'conflict',
        `this state directory belongs to host "${stored.name}" (${stored.id}), not "${name}"; use --state-dir for a second host on one machine`,
      )
    }

    return {id: stored.id, name}
  }

  const identity = {id: randomUUID(), name}
  await mkdir(stateDir, {recursive: true})
  // Write then rename: a crash never leaves a half-written identity behind.
  await writeFile(`${file}.tmp`, JSON.stringify(identity, null, 2) + '\n')
  await rename(`${file}.tmp`, file)
  return identity
}
