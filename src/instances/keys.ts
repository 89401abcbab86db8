// The key layout under the transport's prefix. Every key ec writes is made here.
export const keys = {
  instance: (id: string) => `instances/${id}`,
  instances: () => 'instances/',
  /** name → id, so a name is taken at most once (created in the same transaction as the record). */
  name: (name: string) => `names/${name}`,
  names: () => 'names/',
  /** What a host must run (or tear down); the agent watches its own prefix. */
  assignment: (hostId: string, id: string) => `hosts/${hostId}/assigned/${id}`,
  assignments: (hostId: string) => `hosts/${hostId}/assigned/`,
  /** Bound to the agent's lease: present while the agent runs. */
  alive: (hostId: string) => `hosts/${hostId}/alive`,
  /** Bound to the agent's lease: the guests its hypervisor has, rewritten at every resync (see GuestInventory). */
  guests: (hostId: string) => `hosts/${hostId}/guests`,
  /** Set by `ec host disable`: the host stays out of scheduling, its agent's restarts included. */
  disabled: (hostId: string) => `hosts/${hostId}/disabled`,
  /** Everything ec keeps about one host. */
  host: (hostId: string) => `hosts/${hostId}/`,
  hosts: () => 'hosts/',
  /** Shared storage: where its disks go (see src/storage/records.ts); keyed by its scheduler provider id. */
  storage: (id: string) => `storage/${id}`,
  storages: () => 'storage/',
} as const

/** hosts/<hostId>/alive → hostId (undefined for any other key). */
export function hostIdOfAliveKey(key: string): string | undefined {
  const match = /^hosts\/([^/]+)\/alive$/.exec(key)
  return match?.[1]
}

export function instanceIdOfAssignmentKey(key: string): string | undefined {
  const match = /^hosts\/[^/]+\/assigned\/([^/]+)$/.exec(key)
  return match?.[1]
}

/** hosts/<hostId>/disabled → hostId (undefined for any other key). */
export function hostIdOfDisabledKey(key: string): string | undefined {
  const match = /^hosts\/([^/]+)\/disabled$/.exec(key)
  return match?.[1]
}
