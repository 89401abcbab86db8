// What the @unraid/libvirt binding cannot do, done with virsh: the library
// version, undefine with flags, and DHCP lease lookups. Each call opens its own
// connection, so none of this works for test:/// URIs (private state per connection).
import {runTool, type Tool} from '@ec/plugin-api/tools'

const VIRSH: Tool = {command: 'virsh', debianPackage: 'libvirt-clients'}
const TIMEOUT_MS = 30_000

function virsh(uri: string, args: string[]): Promise<string> {
  return runTool(VIRSH, ['--quiet', '--connect', uri, ...args], {timeoutMs: TIMEOUT_MS})
}

/** e.g. "libvirt 9.0.0, QEMU 7.2.22": the daemon's version (the library's without one) and the hypervisor's. */
export async function libvirtVersion(uri: string): Promise<string> {
  return parseVersion(await virsh(uri, ['version', '--daemon']))
}

export function parseVersion(output: string): string {
  const field = (label: string) => new RegExp(`^${label}:\\s*(.+)$`, 'm').exec(output)?.[1].trim()
  const daemon = field('Running against daemon') ?? field('Using library')?.replace(/^libvirt\s+/, '')
  const hypervisor = field('Running hypervisor')
  return [daemon && `libvirt ${daemon}`, hypervisor].filter(Boolean).join(', ')
}

/** Undefine and drop what plain undefine refuses to leave behind: managed save, snapshots, checkpoints, NVRAM, TPM state. */
export async function undefineWithState(uri: string, name: string): Promise<void> {
  await virsh(uri, [
    'undefine',
    '--domain',
    name,
    '--managed-save',
    '--snapshots-metadata',
    '--checkpoints-metadata',
    '--nvram',
    '--tpm',
  ])
}

/** Addresses the libvirt network's DHCP server leased to the domain's interfaces. */
export async function leasedAddresses(uri: string, name: string): Promise<string[]> {
  return parseInterfaceAddresses(await virsh(uri, ['domifaddr', '--domain', name, '--source', 'lease']))
}

/** Rows of `virsh --quiet domifaddr`: name, MAC, protocol, address/prefix. */
export function parseInterfaceAddresses(output: string): string[] {
  const addresses: string[] = []
  for (const line of output.split('\n')) {
    const columns = line.trim().split(/\s+/)
    // A second address of the same interface comes on a row with "-" for name and MAC.
    const address = columns.at(-1)
    if (columns.length >= 3 && address && /^[0-9a-f.:]+\/\d+$/i.test(address)) addresses.push(address.replace(/\/\d+$/, ''))
  }

  return addresses
}
