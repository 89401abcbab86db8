// Bad input to `ec instance create`, through the real CLI against a real
// control plane with a host that has room: each is refused with exit 2 and one
// line, before anything is written to etcd or claimed in Placement.
import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {InstanceRecord} from '../../src/instances/model.js'
import {startAgent, type RunningAgent} from '../helpers/agent.js'
import {makeQcow2} from '../helpers/image-server.js'
import {parseJson, type RunResult} from '../helpers/cli.js'
import {startControlPlane, type TestControlPlane} from '../helpers/control-plane.js'
import {etcdKeys} from '../helpers/etcd.js'
import {providers} from '../helpers/placement.js'

describe('bad input to ec instance create (real CLI, etcd, Placement, an agent on test:///default)', function () {
  this.timeout(120_000)
  let cp: TestControlPlane
  let agent: RunningAgent | undefined
  let dir: string
  const ec = (args: string[]): Promise<RunResult> => cp.ec(args)
  const valid = () => ['--vcpus', '1', '--memory', '64', '--disk', '1', '--image', 'base']

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ec-input-'))
    const base = makeQcow2(dir)
    writeFileSync(join(dir, 'user-data'), '#!/bin/sh\n')
    execFileSync('mkfifo', [join(dir, 'fifo')])
    cp = await startControlPlane(
      [
        'backends: {metadata: none}',
        'libvirt: {uri: "test:///default"}',
        'compute:',
        '  inventory: {VCPU: 8, MEMORY_MB: 4096, DISK_GB: 100}',
        '  reserved: {MEMORY_MB: 0}',
        'images:',
        `  base: {path: ${base}}`,
      ].join('\n'),
    )
    agent = await startAgent(cp.env, 'host-a', join(cp.sandbox.dir, 'agent'))
  })

  after(async () => {
    await agent?.stop('SIGKILL')
    await cp?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  /** No record, name or assignment key in etcd, and no usage on any provider. */
  async function expectNothingWritten(): Promise<void> {
    const keys = Object.keys(await etcdKeys(cp.etcdEndpoint))
    expect(keys.filter((k) => !k.startsWith('hosts/')), 'etcd keys besides the hosts\' own').to.deep.equal([])
    expect(keys.filter((k) => k.includes('/assigned/')), 'assignments').to.deep.equal([])
    for (const provider of await providers(cp.placementUrl)) {
      expect(Object.values(provider.usages).every((used) => used === 0), `usages of ${provider.name}`).to.equal(true)
    }
  }

  const cases: Array<[string, string[], RegExp]> = [
    ['a VCPU count beyond 2^64', ['x1', '--vcpus', '18446744073709551616', '--memory', '64', '--disk', '1', '--image', 'base'], /^--vcpus must be a whole number from 1 to 2147483647, got "18446744073709551616" \(see ec instance create --help\)$/],
    ['a disk size a JS number would round', ['x1', '--vcpus', '1', '--memory', '64', '--disk', '9007199254740993', '--image', 'base'], /^--disk must be a whole number from 1 to 2147483647, got "9007199254740993"/],
    ['a memory size one past Placement\'s maximum', ['x1', '--vcpus', '1', '--memory', '2147483648', '--disk', '1', '--image', 'base'], /^--memory must be a whole number from 1 to 2147483647, got "2147483648"/],
    ['a fractional VCPU count', ['x1', '--vcpus', '1.5', '--memory', '64', '--disk', '1', '--image', 'base'], /^--vcpus must be a whole number from 1 to 2147483647, got "1.5" \(see ec instance create --help\)$/],
    ['a raw resource of 10^20', ['resources=VCPU:100000000000000000000,MEMORY_MB:64,DISK_GB:1', '--image', 'base'], /^malformed resource request ".*": VCPU must be at most 2147483647, got 100000000000000000000$/],
    ['--user-data /dev/zero', ['x1', ...valid(), '--user-data', '/dev/zero'], /^--user-data "\/dev\/zero" is a character device, not a regular file; give the path of a file$/],
    ['--key-file /dev/zero', ['x1', ...valid(), '--key-file', '/dev/zero'], /^--key-file "\/dev\/zero" is a character device, not a regular file/],
    ['--user-data naming a FIFO nobody writes', ['x1', ...valid(), '--user-data', 'FIFO'], /^--user-data ".*\/fifo" is a FIFO, not a regular file/],
    ['a name that is a uuid', ['0b3c4f2e-5a6b-4c7d-8e9f-0a1b2c3d4e5f', ...valid()], /^instance name "0b3c4f2e-5a6b-4c7d-8e9f-0a1b2c3d4e5f" reads as an instance id \(a uuid\)/],
    ['a name with an escape sequence', ['web\u001B[2J\u001B[31m', ...valid()], /^instance name "web\\u001B\[2J\\u001B\[31m" is not valid/],
    ['an unknown flag', ['x1', ...valid(), '--bogus'], /^unknown flag: --bogus \(see ec instance create --help\)$/],
    ['a flag without its value', ['x1', '--image', 'base', '--vcpus'], /^flag --vcpus expects a value \(see ec instance create --help\)$/],
    ['an option outside its choices', ['x1', ...valid(), '--policy', 'random'], /^expected --policy=random to be one of: pack, spread \(see ec instance create --help\)$/],
    ['one argument too many', ['x1', 'resources=VCPU:1', 'extra', ...valid()], /^unexpected argument: extra \(see ec instance create --help\)$/],
  ]
  for (const [what, args, message] of cases) {
    it(`refuses ${what}: exit 2, one line, nothing written or claimed`, async () => {
      const started = Date.now()
      const result = await ec(['instance', 'create', ...args.map((a) => (a === 'FIFO' ? join(dir, 'fifo') : a))])
      expect(result.code, result.stderr).to.equal(2)
      expect(result.stderr.endsWith('\n') && result.stderr.split('\n').length === 2, `one line:\n${result.stderr}`).to.equal(true)
      expect(result.stderr).to.match(/^Error: /)
      expect(result.stderr.slice('Error: '.length).trim()).to.match(message)
      // eslint-disable-next-line no-control-regex -- looking for raw control characters is the point
      expect(result.stderr, 'no raw control characters').not.to.match(/[\u0000-\u0009\u000B-\u001F\u007F-\u009F]/)
      expect(result.stdout).to.equal('')
      // A device or FIFO is refused at once, not after a read that never ends.
      expect(Date.now() - started).to.be.below(30_000)
      await expectNothingWritten()
    })
  }

  it('reports a parse failure as the JSON error document with --json', async () => {
    const result = await ec(['instance', 'create', 'x1', '--vcpus', '1.5', '--json'])
    expect(result.code).to.equal(2)
    expect(parseJson(result)).to.deep.equal({
      error: {reason: 'usage', message: '--vcpus must be a whole number from 1 to 2147483647, got "1.5" (see ec instance create --help)', exitCode: 2},
    })
    await expectNothingWritten()
  })

  it('escapes control characters of a reference that show and delete echo back', async () => {
    const ref = 'x\u001B]0;owned\u0007\u001B[2J'
    const shown = await ec(['instance', 'show', ref])
    expect(shown.code).to.equal(6)
    expect(shown.stderr).to.equal('Error: no instance "x\\u001B]0;owned\\u0007\\u001B[2J"; list them with "ec instance list"\n')
    const deleted = await ec(['instance', 'delete', ref])
    expect(deleted.code, deleted.stderr).to.equal(0)
    expect(deleted.stdout).to.equal('x\\u001B]0;owned\\u0007\\u001B[2J: not found (nothing to delete)\n')
  })

  it("reshapes a missing argument of show and delete, and refuses a name equal to another instance's id", async () => {
    for (const command of ['show', 'delete']) {
      const result = await ec(['instance', command])
      expect(result.code).to.equal(2)
      expect(result.stderr).to.equal(`Error: missing argument REF (see ec instance ${command} --help)\n`)
    }

    // The control: the same flags with a good name are accepted and claimed.
    const first = parseJson<InstanceRecord>(await ec(['instance', 'create', 'good', ...valid(), '--no-wait', '--json']))
    try {
      const clash = await ec(['instance', 'create', first.id, ...valid()])
      expect(clash.code).to.equal(2)
      expect(clash.stderr).to.equal(`Error: instance name "${first.id}" reads as an instance id (a uuid); pick a name that is not a uuid\n`)
    } finally {
      expect((await ec(['instance', 'delete', 'good'])).code).to.equal(0)
    }

    await expectNothingWritten()
  })
})
