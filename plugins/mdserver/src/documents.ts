// What a guest reads, rendered from an instance's metadata: the NoCloud files
// (served over HTTP and written onto the config drive), the EC2 metadata tree
// and the OpenStack documents. Pure functions; the server renders each
// instance once per change and serves the strings.
import {stringify} from 'yaml'

import type {InstanceMetadata} from '@ec/plugin-api'

// ---- NoCloud ---------------------------------------------------------------

export function nocloudMetaData(m: InstanceMetadata): string {
  const document: Record<string, unknown> = {'instance-id': m.instanceId, 'local-hostname': m.hostname}
  if (m.publicKeys.length > 0) document['public-keys'] = [...m.publicKeys]
  // cloud-init keeps meta-data keys it does not know as instance data (ds.meta_data.meta), as OpenStack's meta.
  if (Object.keys(m.meta).length > 0) document.meta = {...m.meta}
  // lineWidth 0: never fold a long key over two lines.
  return stringify(document, {lineWidth: 0})
}

/** cloud-init wants a document; an instance without user-data gets an empty cloud-config. */
export const EMPTY_USER_DATA = '#cloud-config\n{}\n'

export function nocloudUserData(m: InstanceMetadata): string {
  return m.userData === undefined || m.userData === '' ? EMPTY_USER_DATA : m.userData
}

export function nocloudVendorData(m: InstanceMetadata): string {
  return m.vendorData ?? ''
}

/**
 * Network config v2: DHCPv4 on the guest's Ethernet NICs (ec guests have one).
 * The same as cloud-init's fallback, but explicit, so a config drive and the
 * HTTP server describe the network the same way.
 */
export const NETWORK_CONFIG = stringify({
  version: 2,
  ethernets: {primary: {match: {name: 'e*'}, dhcp4: true}},
})

/** What phone_home posts: identity and the SSH host keys cloud-init made, which ec hands ssh as known hosts. */
export const PHONE_HOME_POST = ['instance_id', 'hostname', 'pub_key_rsa', 'pub_key_ecdsa', 'pub_key_ed25519']

/** vendor-data that makes cloud-init's phone_home module POST to this instance's URL once it booted. */
export function phoneHomeVendorData(seedUrl: string): string {
  return '#cloud-config\n' + stringify({phone_home: {url: `${seedUrl}phone-home`, post: PHONE_HOME_POST, tries: 10}}, {lineWidth: 0})
}

// ---- EC2 -------------------------------------------------------------------

export interface Ec2Leaf {
  kind: 'leaf'
  body: string
  contentType: string
}

export interface Ec2Dir {
  kind: 'dir'
  children: Map<string, Ec2Node>
  /** The body of a listing; by default the names, one a line, directories with a trailing "/". */
  listing: string
}

export type Ec2Node = Ec2Leaf | Ec2Dir

const TEXT = 'text/plain'

function leaf(body: string, contentType = TEXT): Ec2Leaf {
  return {kind: 'leaf', body, contentType}
}

function dir(entries: Record<string, Ec2Node>, listing?: string): Ec2Dir {
  const children = new Map(Object.entries(entries))
  return {
    kind: 'dir',
    children,
    listing: listing ?? [...children].map(([name, node]) => (node.kind === 'dir' ? `${name}/` : name)).join('\n'),
  }
}

/** The versions the EC2 layout answers to; every one serves the same tree. */
export const EC2_VERSIONS = [
  '1.0', '2007-01-19', '2007-03-01', '2007-08-29', '2007-10-10', '2007-12-15', '2008-02-01', '2008-09-01',
  '2009-04-04', '2011-01-01', '2011-05-01', '2012-01-12', '2014-02-25', '2014-11-05', '2015-10-20',
  '2016-04-19', '2016-06-30', '2016-09-02', '2018-03-28', '2018-08-17', '2018-09-24', '2019-10-01',
  '2020-10-27', '2021-01-03', '2021-03-23', '2021-07-15', '2022-09-24', '2024-04-11', 'latest',
]

/** The key's comment, else key-<n>: what EC2 lists as `<n>=<name>`. */
function keyName(key: string, index: number): string {
  const comment = key.trim().split(/\s+/)[2]
  return comment && /^[\w.@+-]{1,64}$/.test(comment) ? comment : `key-${index}`
}

/** One version's tree: /<version>/ lists `dynamic`, `meta-data` and `user-data` without slashes, as EC2 does. */
export function ec2Tree(m: InstanceMetadata): Ec2Dir {
  const keys: Record<string, Ec2Node> = {}
  m.publicKeys.forEach((key, i) => {
    keys[String(i)] = dir({'openssh-key': leaf(key)})
  })
  const metaData: Record<string, Ec2Node> = {
    'ami-id': leaf('ami-00000000'),
    'ami-launch-index': leaf('0'),
    hostname: leaf(m.hostname),
    'instance-id': leaf(m.instanceId),
    'instance-type': leaf('ec.instance'),
    'local-hostname': leaf(m.hostname),
  }
  if (m.address) metaData['local-ipv4'] = leaf(m.address)
  if (m.macAddress) metaData.mac = leaf(m.macAddress)
  metaData.placement = dir({'availability-zone': leaf('ec')})
  // --meta as EC2's instance tags in metadata (meta-data/tags/instance/<key>).
  const tags = Object.entries(m.meta)
  if (tags.length > 0) metaData.tags = dir({instance: dir(Object.fromEntries(tags.map(([key, value]) => [key, leaf(value)])))})
  if (m.publicKeys.length > 0) {
    metaData['public-keys'] = dir(keys, m.publicKeys.map((k, i) => `${i}=${keyName(k, i)}`).join('\n'))
  }

  const identity = {
    instanceId: m.instanceId,
    imageId: 'ami-00000000',
    instanceType: 'ec.instance',
    availabilityZone: 'ec',
    region: 'ec',
    privateIp: m.address ?? null,
    architecture: process.arch === 'arm64' ? 'arm64' : 'x86_64',
    version: '2017-09-30',
  }
  const root: Record<string, Ec2Node> = {
    dynamic: dir({'instance-identity': dir({document: leaf(JSON.stringify(identity, null, 2), 'application/json')})}),
    'meta-data': dir(metaData),
  }
  // EC2 answers 404 for user-data when an instance has none.
  if (m.userData !== undefined && m.userData !== '') root['user-data'] = leaf(m.userData, 'application/octet-stream')
  return dir(root, Object.keys(root).join('\n'))
}

/**
 * Walk `segments` (the path after the version, split on "/") down the tree.
 * A directory answers its listing with or without a trailing slash; a leaf
 * only without one.
 */
export function ec2Lookup(tree: Ec2Dir, segments: string[]): Ec2Leaf | undefined {
  let node: Ec2Node = tree
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]
    if (segment === '') {
      // only a trailing slash on a directory
      if (i !== segments.length - 1 || node.kind !== 'dir') return undefined
      break
    }

    if (node.kind !== 'dir') return undefined
    const next = node.children.get(segment)
    if (!next) return undefined
    node = next
  }

  return node.kind === 'dir' ? leaf(node.listing) : node
}

// ---- OpenStack -------------------------------------------------------------

export const OPENSTACK_VERSIONS = ['2012-08-10', '2013-04-04', '2013-10-17', '2015-10-15', '2016-06-30', '2016-10-06', '2017-02-22', '2018-08-27', 'latest']

export interface OpenStackFiles {
  'meta_data.json': string
  'network_data.json'?: string
  'vendor_data.json': string
  'vendor_data2.json': string
  user_data?: string
}

export function openstackFiles(m: InstanceMetadata): OpenStackFiles {
  const names = m.publicKeys.map((k, i) => keyName(k, i))
  const publicKeys: Record<string, string> = {}
  m.publicKeys.forEach((k, i) => {
    publicKeys[names[i]] = k
  })
  const metaData = {
    uuid: m.instanceId,
    name: m.hostname,
    hostname: m.hostname,
    launch_index: 0,
    availability_zone: 'ec',
    project_id: 'ec',
    meta: {...m.meta},
    public_keys: publicKeys,
    keys: m.publicKeys.map((k, i) => ({name: names[i], type: 'ssh', data: k})),
  }
  const files: OpenStackFiles = {
    'meta_data.json': JSON.stringify(metaData),
    // cloud-init takes vendor data from the "cloud-init" key of vendor_data.json.
    'vendor_data.json': JSON.stringify(m.vendorData ? {'cloud-init': m.vendorData} : {}),
    'vendor_data2.json': JSON.stringify({}),
  }
  // Without the NIC's MAC there is no network_data at all: cloud-init then
  // falls back to DHCP on the first NIC (empty links would bring none up).
  if (m.macAddress) files['network_data.json'] = openstackNetworkData(m.macAddress)
  if (m.userData !== undefined && m.userData !== '') files.user_data = m.userData
  return files
}

/** One link, the guest's NIC by its MAC, configured by DHCPv4. */
export function openstackNetworkData(macAddress: string): string {
  return JSON.stringify({
    links: [{id: 'ec0', type: 'phy', ethernet_mac_address: macAddress, mtu: 1500}],
    networks: [{id: 'network0', type: 'ipv4_dhcp', link: 'ec0', network_id: 'ec'}],
    services: [],
  })
}
