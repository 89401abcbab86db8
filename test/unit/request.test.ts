import {expect} from 'chai'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {buildSpec, parsePublish, parseRawRequest, validateName} from '../../src/scheduling/request.js'
import {failure} from '../helpers/failure.js'

const catalog = {
  flavors: {small: {vcpus: 1, memoryMb: 1024, diskGb: 10, traits: ['HW_CPU_X86_AVX2'], resources: {CUSTOM_GPU: 1}}},
  images: {debian: {url: 'http://127.0.0.1:9/debian.qcow2', sha256: 'a'.repeat(64)}},
}
const AGG = '11111111-2222-3333-4444-555555555555'

describe('resource requests', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ec-request-'))
    writeFileSync(join(dir, 'disk.qcow2'), '')
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  it("parses etcd-compute's raw form", () => {
    expect(parseRawRequest(`resources=VCPU:1,DISK_GB:1,MEMORY_MB:512&required=HW_CPU_X86_AVX2,!CUSTOM_SLOW&member_of=in:${AGG}`)).to.deep.equal({
      resources: {VCPU: 1, DISK_GB: 1, MEMORY_MB: 512},
      requiredTraits: ['HW_CPU_X86_AVX2'],
      forbiddenTraits: ['CUSTOM_SLOW'],
      memberOf: [[AGG]],
    })
  })

  for (const [raw, why] of [
    ['resources=VCPU', '"VCPU" is not RESOURCE_CLASS:AMOUNT'],
    ['resources=VCPU:0', 'VCPU must be above zero, got 0'],
    ['resources=VCPU:-2', 'VCPU must be above zero, got -2'],
    ['resources=vcpu:1', '"vcpu:1" is not RESOURCE_CLASS:AMOUNT'],
    ['resources=VCPU:1,VCPU:2', 'VCPU is given twice'],
    ['resources=VCPU:1&limit=3', '"limit" is not supported; use resources, required, member_of, in_tree (each with an optional group suffix), group_policy and root_required'],
    ['resources=VCPU:1&group_policy=maybe', 'group_policy must be isolate or none, not "maybe"'],
    ['resources_N U=VCPU:1', 'group suffix "_N U" is not valid (a number, or letters, digits, _ and -)'],
    ['VCPU:1', '"VCPU:1" is not key=value'],
    ['&&', 'it is empty'],
  ]) {
    it(`rejects ${raw}: ${why}`, () => {
      const error = failure(() => parseRawRequest(raw))
      expect(error.reason).to.equal('usage')
      expect(error.message).to.equal(`malformed resource request "${raw}": ${why}`)
    })
  }

  it('lays flavor < raw < flags, and resolves a configured image', () => {
    const spec = buildSpec({flavor: 'small', raw: 'resources=MEMORY_MB:2048', diskGb: 20, image: 'debian', traits: ['CUSTOM_FAST']}, catalog, dir)
    expect(spec).to.deep.include({
      vcpus: 1,
      memoryMb: 2048,
      diskGb: 20,
      resources: {CUSTOM_GPU: 1, VCPU: 1, MEMORY_MB: 2048, DISK_GB: 20},
      requiredTraits: ['CUSTOM_FAST', 'HW_CPU_X86_AVX2'],
      flavor: 'small',
    })
    expect(spec.image).to.deep.equal({ref: 'debian', url: 'http://127.0.0.1:9/debian.qcow2', path: undefined, sha256: 'a'.repeat(64)})
  })

  it('takes a URL or an existing file as the image, and rejects anything else by name', () => {
    const base = {vcpus: 1, memoryMb: 64, diskGb: 1}
    expect(buildSpec({...base, image: 'https://127.0.0.1/x.img'}, catalog, dir).image).to.deep.equal({ref: 'https://127.0.0.1/x.img', url: 'https://127.0.0.1/x.img'})
    expect(buildSpec({...base, image: 'disk.qcow2'}, catalog, dir).image).to.deep.equal({ref: 'disk.qcow2', path: join(dir, 'disk.qcow2')})
    const error = failure(() => buildSpec({...base, image: 'ubuntu'}, catalog, dir))
    expect(error.reason).to.equal('notFound')
    expect(error.message).to.equal('unknown image "ubuntu": not a configured image (debian), an http(s) URL, or an existing file')
  })

  it('rejects an unknown flavor, listing the configured ones', () => {
    const error = failure(() => buildSpec({flavor: 'huge', image: 'debian'}, catalog, dir))
    expect(error.reason).to.equal('notFound')
    expect(error.message).to.equal('unknown flavor "huge"; configured flavors: small')
  })

  it('rejects zero and negative sizes, missing sizes and a missing image', () => {
    expect(failure(() => buildSpec({vcpus: 0, memoryMb: 1, diskGb: 1, image: 'debian'}, catalog, dir)).message).to.equal(
      '--vcpus must be a whole number from 1 to 2147483647, got 0',
    )
    expect(failure(() => buildSpec({vcpus: 1, memoryMb: -5, diskGb: 1, image: 'debian'}, catalog, dir)).message).to.equal(
      '--memory must be a whole number from 1 to 2147483647, got -5',
    )
    expect(failure(() => buildSpec({vcpus: 1.5, memoryMb: 1, diskGb: 1, image: 'debian'}, catalog, dir)).message).to.equal(
      '--vcpus must be a whole number from 1 to 2147483647, got 1.5',
    )
    expect(failure(() => buildSpec({vcpus: 2 ** 31, memoryMb: 1, diskGb: 1, image: 'debian'}, catalog, dir)).message).to.equal(
      '--vcpus must be a whole number from 1 to 2147483647, got 2147483648',
    )
    const missing = failure(() => buildSpec({vcpus: 1, image: 'debian'}, catalog, dir))
    expect(missing.reason).to.equal('usage')
    expect(missing.message).to.equal('missing --memory, --disk: give them as flags, in resources=…, or pick a --flavor')
    expect(failure(() => buildSpec({flavor: 'small'}, catalog, dir)).message).to.match(/^missing --image/)
  })

  it('rejects a trait both required and forbidden, bad trait names and bad aggregates', () => {
    expect(failure(() => buildSpec({flavor: 'small', image: 'debian', forbiddenTraits: ['HW_CPU_X86_AVX2']}, catalog, dir)).message).to.equal(
      'trait HW_CPU_X86_AVX2 is both required and forbidden; drop one of them',
    )
    expect(failure(() => buildSpec({flavor: 'small', image: 'debian', traits: ['fast']}, catalog, dir)).message).to.equal(
      '--trait: "fast" is not a trait name (upper-case letters, digits and _)',
    )
    expect(failure(() => buildSpec({flavor: 'small', image: 'debian', memberOf: ['rack 1']}, catalog, dir)).message).to.equal(
      '--member-of: "rack 1" is not an aggregate uuid or name (letters, digits, . _ -)',
    )
  })

  it("parses Placement's query language: suffixed groups, group_policy, root_required, forbidden aggregates, in_tree", () => {
    expect(parseRawRequest(`resources=DISK_GB:5&resources_NUMA=VCPU:2,MEMORY_MB:1024&required_NUMA=!CUSTOM_SLOW&member_of=!in:${AGG}&in_tree=host-a&group_policy=none&root_required=HW_CPU_X86_AVX2,!CUSTOM_OLD`)).to.deep.equal({
      resources: {DISK_GB: 5},
      requiredTraits: [],
      forbiddenTraits: [],
      memberOf: [],
      forbiddenAggregates: [AGG],
      inTree: 'host-a',
      groupPolicy: 'none',
      rootRequiredTraits: ['HW_CPU_X86_AVX2'],
      rootForbiddenTraits: ['CUSTOM_OLD'],
      groups: [{suffix: '_NUMA', resources: {VCPU: 2, MEMORY_MB: 1024}, requiredTraits: [], forbiddenTraits: ['CUSTOM_SLOW'], memberOf: []}],
    })
  })

  it('takes VCPU and memory from one NUMA node by default, from N isolated nodes with numaNodes N, and the disk as asked', () => {
    const base = {vcpus: 3, memoryMb: 3072, diskGb: 10, image: 'debian'}
    const one = buildSpec(base, catalog, dir).request!
    expect(one.resources).to.deep.equal({DISK_GB: 10})
    expect(one.groups).to.deep.equal([{suffix: '_NUMA0', resources: {VCPU: 3, MEMORY_MB: 3072}, requiredTraits: [], forbiddenTraits: [], memberOf: []}])
    expect(one.groupPolicy).to.equal(undefined)
    const two = buildSpec({...base, numaNodes: 2, diskFrom: 'shared'}, catalog, dir)
    expect(two.request!.groups!.map((g) => [g.suffix, g.resources, g.requiredTraits])).to.deep.equal([
      ['_NUMA0', {VCPU: 2, MEMORY_MB: 1536}, []],
      ['_NUMA1', {VCPU: 1, MEMORY_MB: 1536}, []],
      ['_DISK', {DISK_GB: 10}, ['MISC_SHARES_VIA_AGGREGATE']],
    ])
    expect(two.request!.groupPolicy).to.equal('isolate')
    expect(two.resources).to.deep.equal({VCPU: 3, MEMORY_MB: 3072, DISK_GB: 10})
    expect(buildSpec({...base, numaNodes: 0}, catalog, dir).request!.resources).to.deep.equal({VCPU: 3, MEMORY_MB: 3072, DISK_GB: 10})
    const named = buildSpec({...base, numaNodes: 0, groupResources: ['GPU=CUSTOM_GPU:1'], memberOf: ['!rack9'], rootTraits: ['!CUSTOM_OLD']}, catalog, dir).request!
    expect(named.groups).to.deep.equal([{suffix: '_GPU', resources: {CUSTOM_GPU: 1}, requiredTraits: [], forbiddenTraits: [], memberOf: []}])
    expect(named.forbiddenAggregates).to.deep.equal(['rack9'])
    expect(named.rootForbiddenTraits).to.deep.equal(['CUSTOM_OLD'])
    expect(failure(() => buildSpec({...base, numaNodes: 4}, catalog, dir)).message).to.equal('--numa-nodes 4 needs at least 4 vCPUs and 4 MiB, one share per node')
    expect(failure(() => buildSpec({...base, groupResources: ['GPU:1']}, catalog, dir)).message).to.match(/is not NAME=RC:N/)
  })

  it('accepts host-like names only', () => {
    expect(validateName('web-1')).to.equal('web-1')
    for (const bad of ['Web', '-a', 'a-', 'a_b', 'x'.repeat(64), '', 'a\u001B[2Jb', 'tab\there']) {
      expect(failure(() => validateName(bad)).reason, bad).to.equal('usage')
    }

    expect(failure(() => validateName('a\u001B[2Jb')).message).to.match(/^instance name "a\\u001B\[2Jb" is not valid/)
  })

  it('refuses a name that reads as an instance id, so show and delete by it stay unambiguous', () => {
    for (const uuid of ['0b3c4f2e-5a6b-4c7d-8e9f-0a1b2c3d4e5f', '0b3c4f2e5a6b4c7d8e9f0a1b2c3d4e5f']) {
      expect(failure(() => validateName(uuid)).message).to.equal(`instance name "${uuid}" reads as an instance id (a uuid); pick a name that is not a uuid`)
    }
  })

  it('refuses amounts Placement cannot store, compared exactly (never rounded)', () => {
    for (const [raw, why] of [
      ['resources=VCPU:2147483648', 'VCPU must be at most 2147483647, got 2147483648'],
      ['resources=DISK_GB:9007199254740993', 'DISK_GB must be at most 2147483647, got 9007199254740993'],
      ['resources=MEMORY_MB:100000000000000000000', 'MEMORY_MB must be at most 2147483647, got 100000000000000000000'],
    ]) {
      expect(failure(() => parseRawRequest(raw)).message).to.equal(`malformed resource request "${raw}": ${why}`)
    }

    expect(parseRawRequest('resources=VCPU:2147483647').resources).to.deep.equal({VCPU: 2_147_483_647})
    const flavors = {big: {vcpus: 1, memoryMb: 1, diskGb: 1, resources: {CUSTOM_X: 2 ** 40}}}
    expect(failure(() => buildSpec({flavor: 'big', image: 'debian'}, {...catalog, flavors}, dir)).message).to.equal(
      "flavor big's CUSTOM_X must be a whole number from 1 to 2147483647, got 1099511627776",
    )
  })

  it('reads public keys, user-data and custom metadata for the guest', () => {
    writeFileSync(join(dir, 'id.pub'), '# mine\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB me@host\n\nssh-rsa AAAAB3NzaC1yc2E other\n')
    writeFileSync(join(dir, 'user-data'), '#!/bin/sh\necho hi\n')
    const spec = buildSpec({flavor: 'small', image: 'debian', keyFiles: ['id.pub'], userDataFile: 'user-data', meta: ['role=web', 'note=a=b']}, catalog, dir)
    expect(spec.publicKeys).to.deep.equal(['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB me@host', 'ssh-rsa AAAAB3NzaC1yc2E other'])
    expect(spec.userData).to.equal('#!/bin/sh\necho hi\n')
    expect(spec.meta).to.deep.equal({role: 'web', note: 'a=b'})
  })

  it('refuses oversized user-data, a file that holds no keys, and malformed metadata, each in one line', () => {
    writeFileSync(join(dir, 'big'), 'x'.repeat(101))
    expect(failure(() => buildSpec({flavor: 'small', image: 'debian', userDataFile: 'big'}, catalog, dir, 100)).message).to.equal(
      `--user-data "${join(dir, 'big')}" is 101 bytes; the limit is 100 (scheduling.maxUserDataBytes): fetch the rest from the guest instead`,
    )
    writeFileSync(join(dir, 'notkey'), 'hello\n')
    expect(failure(() => buildSpec({flavor: 'small', image: 'debian', keyFiles: ['notkey']}, catalog, dir)).message).to.match(/does not hold OpenSSH public keys/)
    expect(failure(() => buildSpec({flavor: 'small', image: 'debian', keyFiles: ['nope']}, catalog, dir)).message).to.equal(`--key-file "${join(dir, 'nope')}": no such file`)
    const meta = failure(() => buildSpec({flavor: 'small', image: 'debian', meta: ['novalue']}, catalog, dir))
    expect(meta.reason).to.equal('usage')
    expect(meta.message).to.equal('--meta "novalue" is not KEY=VALUE (letters, digits, . _ - in the key)')
  })

  it('takes --publish Docker-style, tcp unless it says udp, and refuses anything else in one line', () => {
    expect(parsePublish(['8080:80', '0:8000/tcp', '5353:53/udp'])).to.deep.equal([
      {host: 8080, guest: 80, proto: 'tcp'},
      {host: 0, guest: 8000, proto: 'tcp'},
      {host: 5353, guest: 53, proto: 'udp'},
    ])
    for (const bad of ['80', '8080:0', '70000:80', '8080:80/sctp', 'a:b', '8080:80:1']) {
      const error = failure(() => parsePublish([bad]))
      expect(error.reason, bad).to.equal('usage')
      expect(error.message, bad).to.equal(`--publish "${bad}" is not HOST_PORT:GUEST_PORT[/tcp|udp] with ports 1-65535 (HOST_PORT 0 picks a free one), e.g. 8080:80`)
    }

    expect(failure(() => parsePublish(['8080:80', '8080:81'])).message).to.match(/repeats a port/)
    expect(failure(() => parsePublish(['8080:80', '0:80'])).message).to.match(/repeats a port/)
    expect(parsePublish(['8080:80', '8080:80/udp'])).to.have.length(2)
  })

  it("records the image's ssh user (default debian), the first key file, and --publish in the spec", () => {
    writeFileSync(join(dir, 'id.pub'), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB me@host\n')
    const debian = buildSpec({flavor: 'small', image: 'debian', keyFiles: ['id.pub'], publish: ['0:80']}, catalog, dir)
    expect(debian).to.deep.include({user: 'debian', keyFile: join(dir, 'id.pub'), publish: [{host: 0, guest: 80, proto: 'tcp'}]})
    const withAlpine = {...catalog, images: {...catalog.images, alpine: {path: '/srv/alpine.qcow2', user: 'alpine'}}}
    const alpine = buildSpec({flavor: 'small', image: 'alpine'}, withAlpine, dir)
    expect(alpine.user).to.equal('alpine')
    expect(alpine).not.to.have.property('keyFile')
    expect(alpine).not.to.have.property('publish')
  })
})
