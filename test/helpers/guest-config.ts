// The config of a test that boots real guests: the test control plane's own
// ports kept (a fresh etcd peer port), libvirt's instances and image cache and
// the metadata server's data under the test's work directory. Each test adds
// its own compute, scheduling and images lines.
import {join} from 'node:path'

import type {TestControlPlane} from './control-plane.js'
import {freePorts} from './ports.js'

export async function guestConfigLines(cp: TestControlPlane, options: {work: string; metadataPort: number; libvirtUri?: string}): Promise<string[]> {
  const {work, metadataPort, libvirtUri = 'qemu:///system'} = options
  return [
    `stateDir: ${cp.stateDir}`,
    'controlPlane:',
    `  etcd: {clientPort: ${new URL(cp.etcdEndpoint).port}, peerPort: ${(await freePorts(1))[0]}}`,
    `  placement: {port: ${new URL(cp.placementUrl).port}}`,
    'backends: {metadata: mdserver}',
    `libvirt: {uri: "${libvirtUri}", instancesDir: ${join(work, 'instances')}, imageCacheDir: ${join(work, 'cache')}}`,
    `metadata: {port: ${metadataPort}, dataDir: ${join(work, 'metadata')}}`,
  ]
}
