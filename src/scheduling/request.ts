// Turns what `ec instance create` was given — flags, a flavor from config, or
// etcd-compute's raw form `resources=VCPU:1,MEMORY_MB:512,DISK_GB:1&required=T,!U`
// — into one validated InstanceSpec. Later sources win: flavor < raw < flags.
import {existsSync, statSync} from 'node:fs'
import {resolve} from 'node:path'

import type {FlavorConfig, ImageConfig} from '../config/defaults.js'
import {EcError} from '../errors.js'
import {checkAmount, MAX_AMOUNT} from '../input/amount.js'
import {readBoundedText} from '../input/bounded-file.js'
import {quote} from '../output/escape.js'
import {type InstanceSpec, UUID} from '../instances/model.js'
import {type DiskFrom, shapeRequest, totalResources} from './groups.js'
import type {
  DiskStrategy,
  ImageSource,
  PortRequest,
  RequestGroup,
  RequestGroupFilter,
  ResourceRequest,
} from '@ec/plugin-api'

export interface CreateInput {
  raw?: string
  flavor?: string
  vcpus?: number
  memoryMb?: number
  diskGb?: number
  traits?: string[]
  forbiddenTraits?: string[]
  /** Each entry: `A,B` or `in:A,B` (any of), `!A` or `!in:A,B` (none of); uuids or names. */
  memberOf?: string[]
  /** Only this host's tree (a host id or name). */
  inTree?: string
  /** Traits of the host itself; a leading "!" forbids. */
  rootTraits?: string[]
  numaNodes?: number
  diskFrom?: DiskFrom
  groupResources?: string[]
  groupPolicy?: 'isolate' | 'none'
  image?: string
  diskStrategy?: DiskStrategy
  keyFiles?: string[]
  userDataFile?: string
  /** KEY=VALUE pairs. */
  meta?: string[]
  /** HOST_PORT:GUEST_PORT[/tcp|udp]. */
  publish?: string[]
}

export interface Catalog {
  flavors: Record<string, FlavorConfig>
  images: Record<string, ImageConfig>
}

const CLASS = /^[A-Z][A-Z0-9_]*$/
const GROUP_SUFFIX = /^[a-zA-Z0-9_-]{1,64}$/
const AGGREGATE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/
const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

/** An OpenSSH public key file holds a few lines; anything larger is not one. */
export const MAX_KEY_FILE_BYTES = 65_536

export function validateName(name: string): string {
  if (!NAME.test(name)) {
    throw new EcError(
      'usage',
      `instance name ${quote(name)} is not valid; use 1-63 lower-case letters, digits and dashes, starting and ending with a letter or digit`,
    )
  }

  // show and delete take an id or a name: a name that reads as an id would make them ambiguous.
  if (UUID.test(name) || /^[\da-f]{32}$/.test(name)) throw new EcError('usage', `instance name ${quote(name)} reads as an instance id (a uuid); pick a name that is not a uuid`)
  return name
}

export function buildSpec(input: CreateInput, catalog: Catalog, cwd = process.cwd(), maxUserDataBytes = 65_536): InstanceSpec {
  const resources: Record<string, number> = {}
  const required = new Set<string>()
  const forbidden = new Set<string>()
  const memberOf: string[][] = []
  let flavorName: string | undefined

  if (input.flavor !== undefined) {
    const flavor = catalog.flavors[input.flavor]
    if (!flavor) {
      const known = Object.keys(catalog.flavors).sort()
      throw new EcError(
        'notFound',
        `unknown flavor ${quote(input.flavor)}; ${known.length > 0 ? `configured flavors: ${known.join(', ')}` : 'no flavors are configured (flavors: in the config file)'}`,
      )
    }

    flavorName = input.flavor
    Object.assign(resources, flavor.resources, {VCPU: flavor.vcpus, MEMORY_MB: flavor.memoryMb, DISK_GB: flavor.diskGb})
    for (const [cls, amount] of Object.entries(resources)) {
      if (amount !== 0) checkAmount(amount, `flavor ${input.flavor}'s ${cls}`)
    }
    for (const t of flavor.traits ?? []) required.add(t)
    for (const t of flavor.forbiddenTraits ?? []) forbidden.add(t)
  }

  const extra: RequestGroupFilter = {resources: {}, requiredTraits: [], forbiddenTraits: [], memberOf: []}
  let raw: RawRequest | undefined
  if (input.raw !== undefined) {
    raw = parseRawRequest(input.raw)
    Object.assign(resources, raw.resources)
    for (const t of raw.requiredTraits) required.add(t)
    for (const t of raw.forbiddenTraits) forbidden.add(t)
    memberOf.push(...raw.memberOf)
  }

  for (const [flag, cls, value] of [
    ['--vcpus', 'VCPU', input.vcpus],
    ['--memory', 'MEMORY_MB', input.memoryMb],
    ['--disk', 'DISK_GB', input.diskGb],
  ] as const) {
    if (value === undefined) continue
    resources[cls] = checkAmount(value, flag)
  }

  for (const t of input.traits ?? []) required.add(checkTrait(t, '--trait'))
  for (const t of input.forbiddenTraits ?? []) forbidden.add(checkTrait(t, '--forbid-trait'))
  for (const entry of input.memberOf ?? []) addMemberOf(extra, entry, '--member-of')
  memberOf.push(...extra.memberOf)
  const rootRequired = [...(raw?.rootRequiredTraits ?? [])]
  const rootForbidden = [...(raw?.rootForbiddenTraits ?? [])]
  for (const t of input.rootTraits ?? []) {
    if (t.startsWith('!')) rootForbidden.push(checkTrait(t.slice(1), '--root-trait'))
    else rootRequired.push(checkTrait(t, '--root-trait'))
  }

  for (const t of required) {
    if (forbidden.has(t)) throw new EcError('usage', `trait ${t} is both required and forbidden; drop one of them`)
  }

  const request = shapeRequest(
    {
      resources: {...resources},
      requiredTraits: [...required].sort(),
      forbiddenTraits: [...forbidden].sort(),
      memberOf,
      ...optional('forbiddenAggregates', [...(raw?.forbiddenAggregates ?? []), ...(extra.forbiddenAggregates ?? [])]),
      ...(input.inTree ?? raw?.inTree ? {inTree: input.inTree ?? raw?.inTree} : {}),
      ...optional('rootRequiredTraits', rootRequired),
      ...optional('rootForbiddenTraits', rootForbidden),
      ...(raw?.groups ? {groups: raw.groups} : {}),
      ...(raw?.groupPolicy ? {groupPolicy: raw.groupPolicy} : {}),
    },
    {numaNodes: input.numaNodes, diskFrom: input.diskFrom, groupResources: input.groupResources, groupPolicy: input.groupPolicy},
  )
  Object.assign(resources, totalResources(request))

  const missing = (
    [
      ['VCPU', '--vcpus'],
      ['MEMORY_MB', '--memory'],
      ['DISK_GB', '--disk'],
    ] as const
  ).filter(([cls]) => resources[cls] === undefined)
  if (missing.length > 0) {
    throw new EcError(
      'usage',
      `missing ${missing.map(([, flag]) => flag).join(', ')}: give ${missing.length > 1 ? 'them' : 'it'} as flags, in resources=…, or pick a --flavor`,
    )
  }

  if (input.image === undefined || input.image.trim() === '') {
    throw new EcError('usage', 'missing --image: give a configured image name, an http(s) URL or a path to a disk image')
  }

  const image = resolveImage(input.image.trim(), catalog.images, cwd)
  const publish = parsePublish(input.publish ?? [])
  const keyFile = input.keyFiles?.[0] === undefined ? undefined : resolve(cwd, input.keyFiles[0])
  return {
    vcpus: resources.VCPU,
    memoryMb: resources.MEMORY_MB,
    diskGb: resources.DISK_GB,
    resources,
    requiredTraits: [...required].sort(),
    forbiddenTraits: [...forbidden].sort(),
    memberOf,
    request,
    image,
    flavor: flavorName,
    diskStrategy: input.diskStrategy,
    publicKeys: (input.keyFiles ?? []).flatMap((file) => readPublicKeys(resolve(cwd, file))),
    userData: input.userDataFile === undefined ? undefined : readUserData(resolve(cwd, input.userDataFile), maxUserDataBytes),
    meta: parseMeta(input.meta ?? []),
    ...(publish.length > 0 ? {publish} : {}),
    user: catalog.images[image.ref]?.user ?? DEFAULT_SSH_USER,
    ...(keyFile ? {keyFile} : {}),
  }
}

function optional<K extends string>(key: K, values: string[]): Partial<Record<K, string[]>> {
  return values.length > 0 ? ({[key]: values} as Record<K, string[]>) : {}
}

/** What the scheduler is asked for; records from before request groups carry only the flat fields. */
export function resourceRequestOf(spec: InstanceSpec): ResourceRequest {
  return spec.request ?? {resources: spec.resources, requiredTraits: spec.requiredTraits, forbiddenTraits: spec.forbiddenTraits, memberOf: spec.memberOf}
}

/** Who `ec instance ssh` logs in as when the image does not say: Debian's cloud images' user. */
export const DEFAULT_SSH_USER = 'debian'

/** Docker's form: HOST_PORT:GUEST_PORT[/tcp|udp], HOST_PORT 0 for any free port. */
export function parsePublish(values: string[]): PortRequest[] {
  const requests: PortRequest[] = []
  for (const value of values) {
    const match = /^(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/.exec(value.trim())
    const [host, guest] = match ? [Number(match[1]), Number(match[2])] : [Number.NaN, Number.NaN]
    if (!match || host > 65_535 || guest < 1 || guest > 65_535) {
      throw new EcError('usage', `--publish ${quote(value)} is not HOST_PORT:GUEST_PORT[/tcp|udp] with ports 1-65535 (HOST_PORT 0 picks a free one), e.g. 8080:80`)
    }

    const proto = (match[3] ?? 'tcp') as PortRequest['proto']
    if (requests.some((r) => r.proto === proto && (r.guest === guest || (host !== 0 && r.host === host)))) {
      throw new EcError('usage', `--publish ${quote(value)} repeats a port another --publish already uses`)
    }

    requests.push({host, guest, proto})
  }

  return requests
}

/** Every key line of an OpenSSH public key file (authorized_keys style). */
function readPublicKeys(path: string): string[] {
  const keys = readBoundedText(path, {flag: '--key-file', maxBytes: MAX_KEY_FILE_BYTES})
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
  const bad = keys.find((key) => !/^(ssh-|ecdsa-|sk-)\S+ \S+/.test(key))
  if (keys.length === 0 || bad !== undefined) {
    throw new EcError('usage', `--key-file ${quote(path)} does not hold OpenSSH public keys (lines like "ssh-ed25519 AAAA… comment")`)
  }

  return keys
}

function readUserData(path: string, maxBytes: number): string {
  return readBoundedText(path, {
    flag: '--user-data',
    maxBytes,
    limitName: 'scheduling.maxUserDataBytes',
    advice: 'fetch the rest from the guest instead',
  })
}

function parseMeta(pairs: string[]): Record<string, string> {
  const meta: Record<string, string> = {}
  for (const pair of pairs) {
    const match = /^([A-Za-z0-9_.-]+)=(.*)$/s.exec(pair)
    if (!match) throw new EcError('usage', `--meta ${quote(pair)} is not KEY=VALUE (letters, digits, . _ - in the key)`)
    meta[match[1]] = match[2]
  }

  return meta
}

/** The raw form parses to Placement's own request: groups, policies and all. */
export type RawRequest = ResourceRequest

/**
 * Placement's query language (etcd-compute's form is its subset):
 * `resources[S]=RC:N,…`, `required[S]=T,!U`, `member_of[S]=[!]in:A,B` or `!A`,
 * `in_tree[S]=HOST`, `group_policy=isolate|none`, `root_required=T,!U`, where
 * S is a group suffix (a number, or a name like _NUMA).
 */
export function parseRawRequest(raw: string): RawRequest {
  const request: RawRequest = {resources: {}, requiredTraits: [], forbiddenTraits: [], memberOf: []}
  const groups = new Map<string, RequestGroup>()
  const group = (suffix: string): RequestGroupFilter => {
    if (suffix === '') return request
    if (!GROUP_SUFFIX.test(suffix)) throw malformed(raw, `group suffix ${quote(suffix)} is not valid (a number, or letters, digits, _ and -)`)
    let found = groups.get(suffix)
    if (!found) groups.set(suffix, (found = {suffix, resources: {}, requiredTraits: [], forbiddenTraits: [], memberOf: []}))
    return found
  }

  const parts = raw.split('&').filter((p) => p.trim() !== '')
  if (parts.length === 0) throw malformed(raw, 'it is empty')
  for (const part of parts) {
    const eq = part.indexOf('=')
    if (eq < 1) throw malformed(raw, `${quote(part)} is not key=value`)
    const key = part.slice(0, eq).trim()
    const value = part.slice(eq + 1).trim()
    const match = /^(resources|required|member_of|in_tree)(.*)$/.exec(key)
    if (key === 'group_policy') {
      if (value !== 'isolate' && value !== 'none') throw malformed(raw, `group_policy must be isolate or none, not ${quote(value)}`)
      request.groupPolicy = value
    } else if (key === 'root_required') {
      const [required, forbidden] = parseTraits(value, 'root_required=')
      request.rootRequiredTraits = [...(request.rootRequiredTraits ?? []), ...required]
      request.rootForbiddenTraits = [...(request.rootForbiddenTraits ?? []), ...forbidden]
    } else if (match) {
      const target = group(match[2])
      switch (match[1]) {
        case 'resources': {
          parseResources(value, raw, target.resources)
          break
        }

        case 'required': {
          const [required, forbidden] = parseTraits(value, `${key}=`)
          target.requiredTraits.push(...required)
          target.forbiddenTraits.push(...forbidden)
          break
        }

        case 'member_of': {
          addMemberOf(target, value, `${key}=`)
          break
        }

        default: {
          if (!value) throw malformed(raw, `${key} needs a host`)
          target.inTree = value
        }
      }
    } else {
      throw malformed(raw, `${quote(key)} is not supported; use resources, required, member_of, in_tree (each with an optional group suffix), group_policy and root_required`)
    }
  }

  if (groups.size > 0) request.groups = [...groups.values()]
  return request
}

function parseResources(value: string, raw: string, into: Record<string, number>): void {
  for (const item of value.split(',')) {
    const match = /^([A-Z][A-Z0-9_]*):(-?\d+)$/.exec(item.trim())
    if (!match) throw malformed(raw, `${quote(item)} is not RESOURCE_CLASS:AMOUNT`)
    // Compared as BigInt: Number() would round 10^20 and beyond 2^53 silently.
    if (BigInt(match[2]) <= 0n) throw malformed(raw, `${match[1]} must be above zero, got ${match[2]}`)
    if (BigInt(match[2]) > BigInt(MAX_AMOUNT)) throw malformed(raw, `${match[1]} must be at most ${MAX_AMOUNT}, got ${match[2]}`)
    if (into[match[1]] !== undefined) throw malformed(raw, `${match[1]} is given twice`)
    into[match[1]] = Number(match[2])
  }
}

function parseTraits(value: string, where: string): [string[], string[]] {
  const required: string[] = []
  const forbidden: string[] = []
  for (const item of value.split(',').map((s) => s.trim())) {
    if (item.startsWith('!')) forbidden.push(checkTrait(item.slice(1), where))
    else required.push(checkTrait(item, where))
  }

  return [required, forbidden]
}

/** `in:A,B` or `A,B` (any of), `!in:A,B` or `!A` (none of). */
export function addMemberOf(target: RequestGroupFilter, value: string, where: string): void {
  if (value.startsWith('!')) {
    const ids = parseAggregates(value.slice(1).replace(/^in:/, ''), where)
    target.forbiddenAggregates = [...(target.forbiddenAggregates ?? []), ...ids]
  } else {
    target.memberOf.push(parseAggregates(value.replace(/^in:/, ''), where))
  }
}

function malformed(raw: string, why: string): EcError {
  return new EcError('usage', `malformed resource request ${quote(raw)}: ${why}`)
}

function checkTrait(trait: string, where: string): string {
  if (!CLASS.test(trait)) throw new EcError('usage', `${where}: ${quote(trait)} is not a trait name (upper-case letters, digits and _)`)
  return trait
}

function parseAggregates(value: string, where: string): string[] {
  const ids = value.split(',').map((s) => s.trim())
  for (const id of ids) {
    // A uuid, or a name the scheduler maps to one.
    if (!UUID.test(id) && !AGGREGATE.test(id)) {
      throw new EcError('usage', `${where}: ${quote(id)} is not an aggregate uuid or name (letters, digits, . _ -)`)
    }
  }

  return ids
}

/** A configured image name, an http(s) URL, or an existing file (made absolute). */
export function resolveImage(ref: string, images: Record<string, ImageConfig>, cwd: string): ImageSource {
  const configured = images[ref]
  if (configured) {
    return {ref, url: configured.url, path: configured.path ? resolve(configured.path) : undefined, sha256: configured.sha256}
  }

  if (/^https?:\/\//i.test(ref)) return {ref, url: ref}
  const path = resolve(cwd, ref)
  if (existsSync(path) && statSync(path).isFile()) return {ref, path}
  const known = Object.keys(images).sort()
  throw new EcError(
    'notFound',
    `unknown image ${quote(ref)}: not a configured image${known.length > 0 ? ` (${known.join(', ')})` : ''}, an http(s) URL, or an existing file`,
  )
}
