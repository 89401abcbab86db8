import {expect} from 'chai'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {InstanceRecord} from '../../src/instances/model.js'
import {hostKeyAlias, recordHostKeys} from '../../src/ssh/known-hosts.js'
import {sshArguments, sshTarget} from '../../src/ssh/ssh-target.js'

function record(overrides: Partial<InstanceRecord> = {}, spec: Partial<InstanceRecord['spec']> = {}): InstanceRecord {
  return {
    id: '0b7c2f4e-1111-4222-8333-944455556666',
    name: 'web',
    state: 'ACTIVE',
    spec: {vcpus: 1, memoryMb: 512, diskGb: 2, resources: {}, requiredTraits: [], forbiddenTraits: [], memberOf: [], image: {ref: 'debian'}, publicKeys: [], meta: {}, ...spec},
    steps: {},
    buildAttempts: 1,
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    ...overrides,
  }
}

describe('ec instance ssh: target and known hosts', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ec-ssh-'))
  })
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  it("goes through the forward of guest port 22, as the image's user, with the private key beside --key-file", () => {
    writeFileSync(join(dir, 'id_ed25519'), 'private')
    const r = record({ports: [{guest: 8000, host: '127.0.0.1:41000', proto: 'tcp'}, {guest: 22, host: '127.0.0.1:41022', proto: 'tcp'}], address: undefined}, {keyFile: join(dir, 'id_ed25519.pub'), user: 'admin'})
    expect(sshTarget(r, {}, {})).to.deep.equal({host: '127.0.0.1', port: 41022, user: 'admin', identity: join(dir, 'id_ed25519')})
    expect(sshTarget(r, {}, {user: 'root', identity: '/k'})).to.deep.include({user: 'root', identity: '/k'})
    // no readable private key: ssh's agent
    expect(sshTarget(record({address: '192.168.122.5'}, {keyFile: join(dir, 'other.pub')}), {debian: {url: 'http://x/', user: 'ops'}}, {})).to.deep.equal({
      host: '192.168.122.5',
      port: 22,
      user: 'ops',
      identity: undefined,
    })
  })

  it('refuses an instance that is not ACTIVE or has no way in', () => {
    expect(() => sshTarget(record({state: 'BUILDING'}), {}, {})).to.throw(/web is BUILDING, not ACTIVE/)
    expect(() => sshTarget(record(), {}, {})).to.throw(/no forwarded SSH port and no known address/)
  })

  it('checks host keys strictly against its own file, under an alias per instance', () => {
    const args = sshArguments({host: '127.0.0.1', port: 41022, user: 'debian', identity: '/k'}, '/kh', 'ec-x', ['cat', '/etc/hostname'])
    expect(args.join(' ')).to.include('-o StrictHostKeyChecking=yes -o UserKnownHostsFile=/kh -o GlobalKnownHostsFile=/dev/null -o HostKeyAlias=ec-x')
    expect(args.slice(-5)).to.deep.equal(['IdentitiesOnly=yes', '127.0.0.1', '--', 'cat', '/etc/hostname'])
    expect(args).to.include.members(['-p', '41022', '-l', 'debian', '-i', '/k'])
  })

  it("replaces an instance's keys in the known_hosts file and keeps the others'", async () => {
    const file = join(dir, 'ssh', 'known_hosts')
    await recordHostKeys(file, hostKeyAlias('a'), ['ssh-ed25519 AAAA1', 'ecdsa-sha2-nistp256 BBBB1'])
    await recordHostKeys(file, hostKeyAlias('b'), ['ssh-ed25519 CCCC'])
    await recordHostKeys(file, hostKeyAlias('a'), ['ssh-ed25519 AAAA2'])
    expect(readFileSync(file, 'utf8')).to.equal('ec-b ssh-ed25519 CCCC\nec-a ssh-ed25519 AAAA2\n')
  })
})
