// The known_hosts file ec keeps for `ec instance ssh`: each instance's SSH
// host keys, as the guest itself reported them when it phoned home, under the
// alias ec-<id> (ssh's HostKeyAlias). Keyed by instance rather than by
// address:port, because forwarded ports are reused by later guests.
import {mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import {dirname} from 'node:path'

export function hostKeyAlias(instanceId: string): string {
  return `ec-${instanceId}`
}

/** Replace the alias's lines in the file with `keys` (creating it); other lines stay. */
export async function recordHostKeys(file: string, alias: string, keys: string[]): Promise<void> {
  let existing = ''
  try {
    existing = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }

  const kept = existing.split('\n').filter((line) => line.trim() !== '' && line.split(/\s+/)[0] !== alias)
  const lines = [...kept, ...keys.map((key) => `${alias} ${key}`)]
  await mkdir(dirname(file), {recursive: true, mode: 0o700})
  // Another ec process may be writing too: write a private copy, then swap it in.
  const temporary = `${file}.${process.pid}.tmp`
  await writeFile(temporary, lines.join('\n') + '\n', {mode: 0o600})
  await rename(temporary, file)
}
