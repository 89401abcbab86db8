// How ec names what it owns on a host: domains `ec-<id>` and one directory
// per instance. The id doubles as the domain's UUID and as a path segment, so
// it must be a UUID — which also keeps `..` and `/` out of paths we delete.
import {join} from 'node:path'

import {LibvirtBackendError} from './errors.js'

export const DOMAIN_PREFIX = 'ec-'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function assertInstanceId(id: string): void {
  if (!UUID.test(id)) {
    throw new LibvirtBackendError('config', `instance id "${id}" is not a UUID; the libvirt backend names domains and directories after it`)
  }
}

export function domainName(id: string): string {
  return DOMAIN_PREFIX + id
}

export function isInstanceId(name: string): boolean {
  return UUID.test(name)
}

/** The instance id of a domain ec owns, or undefined for anyone else's domain. */
export function instanceIdOf(domainName: string): string | undefined {
  if (!domainName.startsWith(DOMAIN_PREFIX)) return undefined
  const id = domainName.slice(DOMAIN_PREFIX.length)
  return UUID.test(id) ? id : undefined
}

export class InstancePaths {
  constructor(readonly instancesDir: string) {}

  dir(id: string): string {
    assertInstanceId(id)
    return join(this.instancesDir, id)
  }

  disk(id: string): string {
    return join(this.dir(id), 'disk.qcow2')
  }

  consoleLog(id: string): string {
    return join(this.dir(id), 'console.log')
  }
}
