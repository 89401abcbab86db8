// How `ec instance ssh` reaches a guest: the host port forwarded to its port
// 22 (user networking), else its own address; as which user, with which key.
import {accessSync, constants} from 'node:fs'

import type {ImageConfig} from '../config/defaults.js'
import {EcError} from '../errors.js'
import type {InstanceRecord} from '../instances/model.js'
import {DEFAULT_SSH_USER} from '../scheduling/request.js'

export interface SshTarget {
  host: string
  port: number
  user: string
  /** A private key file for -i; without one ssh uses its agent and its own defaults. */
  identity?: string
}

export function sshTarget(record: InstanceRecord, images: Record<string, ImageConfig>, options: {user?: string; identity?: string}): SshTarget {
  if (record.state !== 'ACTIVE') throw new EcError('conflict', `${record.name} is ${record.state}, not ACTIVE; wait for it ("ec instance show ${record.name}")`)
  const forward = record.ports?.find((p) => p.guest === 22 && p.proto === 'tcp')
  let host: string
  let port = 22
  if (forward) {
    const colon = forward.host.lastIndexOf(':')
    host = forward.host.slice(0, colon)
    port = Number(forward.host.slice(colon + 1))
    // A forward on every address is reached on loopback from this host.
    if (host === '0.0.0.0') host = '127.0.0.1'
  } else if (record.address) {
    host = record.address
  } else {
    throw new EcError('notFound', `${record.name} has no forwarded SSH port and no known address; see "ec instance show ${record.name}"`)
  }

  const user = options.user ?? record.spec.user ?? images[record.spec.image.ref]?.user ?? DEFAULT_SSH_USER
  return {host, port, user, identity: options.identity ?? besideKeyFile(record.spec.keyFile)}
}

/** The private key beside the public key given at create (id_ed25519 for id_ed25519.pub), when readable. */
function besideKeyFile(keyFile: string | undefined): string | undefined {
  if (!keyFile?.endsWith('.pub')) return undefined
  const privateKey = keyFile.slice(0, -'.pub'.length)
  try {
    accessSync(privateKey, constants.R_OK)
    return privateKey
  } catch {
    return undefined
  }
}

/** ssh's arguments: strict host key checking against ec's known_hosts only. */
export function sshArguments(target: SshTarget, knownHosts: string, alias: string, command: string[]): string[] {
  const args = [
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', `HostKeyAlias=${alias}`,
    '-o', 'CheckHostIP=no',
    '-o', 'BatchMode=' + (process.stdin.isTTY ? 'no' : 'yes'),
    '-p', String(target.port),
    '-l', target.user,
  ]
  if (target.identity) args.push('-i', target.identity, '-o', 'IdentitiesOnly=yes')
  args.push(target.host)
  if (command.length > 0) args.push('--', ...command)
  return args
}
