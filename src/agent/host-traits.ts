// What this host reports to the scheduler: the traits its hypervisor
// describes (CPU features, architecture, image types, disk strategies, …;
// see HypervisorBackend.describeHost) plus the operator's from config.
import {readFile, rename, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import type {HostDescription} from '@ec/plugin-api'

/** Everything this host reports: the hypervisor's traits and config's, once each, sorted. */
export function hostTraits(host: HostDescription, configured: string[]): string[] {
  return [...new Set([...host.traits, ...configured])].sort()
}

/**
 * The traits the agent reported last time, kept in its state directory: a
 * config trait dropped since then is removed from the provider, while traits
 * someone else set (an operator's, another service's) are left alone.
 */
export class ReportedTraits {
  private readonly file: string

  constructor(hostDir: string) {
    this.file = join(hostDir, 'traits.json')
  }

  async load(): Promise<string[]> {
    try {
      const stored = JSON.parse(await readFile(this.file, 'utf8')) as unknown
      return Array.isArray(stored) ? stored.filter((t): t is string => typeof t === 'string') : []
    } catch {
      return [] // absent or unreadable: only the agent's own namespaces are replaced
    }
  }

  async save(traits: string[]): Promise<void> {
    await writeFile(`${this.file}.tmp`, JSON.stringify([...new Set(traits)].sort(), null, 2) + '\n')
    await rename(`${this.file}.tmp`, this.file)
  }
}
