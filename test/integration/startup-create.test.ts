// `ec instance create` on its fast path (src/startup/instance-create.ts: no
// oclif; etcd's reads, writes and watch over HTTP/2, no gRPC client) against
// a real control plane under mutual TLS and a real agent on libvirt's test
// driver: the same output and exit codes as the oclif command
// ("instance:create", which bin/run.js leaves to oclif), neither oclif nor
// etcd3 loaded, a --wait that follows the build to ACTIVE, and whatever it
// does not take left to oclif. About 60 s on a loaded machine, most of it `ec up`.
import {expect} from 'chai'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {InstanceRecord} from '../../src/instances/model.js'
import {startAgent, type RunningAgent} from '../helpers/agent.js'
import {parseJson, runEc, type RunResult} from '../helpers/cli.js'
import {startControlPlane, type TestControlPlane} from '../helpers/control-plane.js'
import {makeQcow2} from '../helpers/image-server.js'

describe('ec instance create without oclif (real etcd under mutual TLS, an agent on test:///default)', function () {
  this.timeout(180_000)
  let cp: TestControlPlane
  let agent: RunningAgent | undefined
  let imageDir: string
  const ec = (args: string[], env: NodeJS.ProcessEnv = cp.env): Promise<RunResult> => runEc(args, {env, cwd: cp.sandbox.dir})
  /** The same create through both doors: the fast path first, then oclif under another name. */
  const both = async (fastName: string | undefined, slowName: string | undefined, args: string[]) => {
    const fast = await ec(['instance', 'create', ...(fastName ? [fastName] : []), ...args])
    const slow = await ec(['instance:create', ...(slowName ? [slowName] : []), ...args])
    return {fast, slow}
  }

  /** A record with what differs between two creates (ids, names, times) taken out. */
  const shape = (record: InstanceRecord) => {
    const {id, name, createdAt, updatedAt, steps, scheduling, ...rest} = record
    expect([id, name, createdAt, updatedAt]).to.not.include(undefined)
    return {...rest, steps: Object.keys(steps ?? {}), scheduling: scheduling === undefined ? undefined : Object.keys(scheduling)}
  }

  before(async () => {
    imageDir = mkdtempSync(join(tmpdir(), 'ec-create-images-'))
    const base = makeQcow2(imageDir)
    cp = await startControlPlane(
      [
        'backends: {metadata: none}',
        'libvirt: {uri: "test:///default"}',
        'compute: {inventory: {VCPU: 16, MEMORY_MB: 8192, DISK_GB: 100}, reserved: {MEMORY_MB: 0}}',
        'scheduling: {waitTimeoutSeconds: 90}',
        'flavors:',
        '  one: {vcpus: 1, memoryMb: 128, diskGb: 1}',
        'images:',
        `  base: {path: ${base}}`,
      ].join('\n'),
    )
    agent = await startAgent(cp.env, 'host-a', join(cp.sandbox.dir, 'agent'))
  })

  afterEach(async () => {
    const listed = parseJson<InstanceRecord[]>(await ec(['instance', 'list', '--json']))
    if (listed.length > 0) {
      const deleted = await ec(['instance', 'delete', ...listed.map((r) => r.id)])
      expect(deleted.code, deleted.stderr).to.equal(0)
    }
  })

  after(async () => {
    await agent?.stop()
    await cp?.stop()
    rmSync(imageDir, {recursive: true, force: true})
  })

  it('creates what the oclif command creates, and prints it the same way (--json)', async () => {
    const {fast, slow} = await both('fast-1', 'slow-1', ['--flavor', 'one', '--image', 'base', '--meta', 'role=web', '--json', '--no-wait'])
    expect(fast.code, fast.stderr).to.equal(0)
    expect(slow.code, slow.stderr).to.equal(0)
    expect(fast.stderr).to.equal(slow.stderr)
    const [a, b] = [parseJson<InstanceRecord>(fast), parseJson<InstanceRecord>(slow)]
    expect(a.name).to.equal('fast-1')
    expect(a.state).to.equal('SCHEDULED')
    expect(a.spec.meta).to.deep.equal({role: 'web'})
    expect(shape(a)).to.deep.equal(shape(b))
  })

  it('prints the plain description the oclif command prints (stdout not a terminal)', async () => {
    const {fast, slow} = await both('fast-2', 'slow-2', ['--vcpus', '1', '--memory', '128', '--disk', '1', '--image', 'base'])
    expect(fast.code, fast.stderr).to.equal(0)
    expect(slow.code, slow.stderr).to.equal(0)
    // The same lines, labels first; ids, names and times differ.
    const labels = (out: string) => out.trim().split('\n').map((line) => line.trim().split(/\s+/)[0])
    expect(labels(fast.stdout)).to.deep.equal(labels(slow.stdout))
    expect(fast.stdout).to.match(/^name +fast-2$/m)
  })

  it('follows the build to ACTIVE with --wait', async () => {
    const fast = await ec(['instance', 'create', 'fast-3', '--flavor', 'one', '--image', 'base', '--wait', '--json'])
    expect(fast.code, fast.stderr).to.equal(0)
    const record = parseJson<InstanceRecord>(fast)
    expect(record.state).to.equal('ACTIVE')
    expect(record.host?.name).to.equal('host-a')
    expect(Object.keys(record.steps)).to.include.members(['claim', 'notify', 'accepted', 'guest'])
  })

  const failures: Array<[string, string[]]> = [
    ['an unknown image', ['--flavor', 'one', '--image', 'nope', '--json']],
    ['an unknown flavor', ['--flavor', 'huge', '--image', 'base']],
    ['no host with room', ['--vcpus', '100000', '--memory', '128', '--disk', '1', '--image', 'base', '--json']],
    ['an unknown group', ['--flavor', 'one', '--image', 'base', '--group', 'nobody']],
    ['a credentials bundle that is not there', ['--flavor', 'one', '--image', 'base', '--credentials', '/nonexistent/bundle.json']],
    ['an amount out of range (oclif parses it: exit 2)', ['--vcpus', '0', '--image', 'base']],
    ['a flag the fast path does not take (oclif runs it)', ['--flavor', 'one', '--image', 'base', '--disk-strategy', 'sideways']],
    ['--help', ['--help']],
  ]
  for (const [what, args] of failures) {
    it(`answers ${what} as the oclif command does, leaving nothing behind`, async () => {
      const {fast, slow} = await both('same-name', 'same-name', args)
      expect(fast.code, fast.stderr).to.equal(slow.code)
      expect(fast.stdout).to.equal(slow.stdout)
      expect(fast.stderr).to.equal(slow.stderr)
      if (!args.includes('--help')) expect(fast.code).to.not.equal(0)
      expect(parseJson<InstanceRecord[]>(await ec(['instance', 'list', '--json']))).to.deep.equal([])
    })
  }

  it('refuses a name taken, as the oclif command does', async () => {
    expect((await ec(['instance', 'create', 'taken', '--flavor', 'one', '--image', 'base', '--no-wait'])).code).to.equal(0)
    const {fast, slow} = await both('taken', 'taken', ['--flavor', 'one', '--image', 'base', '--json'])
    expect(fast.code).to.equal(5)
    expect(fast.code).to.equal(slow.code)
    expect(fast.stdout).to.equal(slow.stdout)
  })

  it('loads neither oclif nor the gRPC client (the oclif form loads oclif, so the probe can tell)', async () => {
    const env = {...cp.env, NODE_DEBUG: 'module'}
    const fast = await ec(['instance', 'create', 'probe-1', '--flavor', 'one', '--image', 'base', '--wait', '--json'], env)
    expect(fast.code, fast.stderr.slice(-2000)).to.equal(0)
    expect(fast.stderr).to.not.include('@oclif/core')
    expect(fast.stderr).to.not.match(/etcd3|grpc-js|transport\.bundle/)
    const slow = await ec(['instance:create', 'probe-2', '--flavor', 'one', '--image', 'base', '--no-wait', '--json'], env)
    expect(slow.stderr).to.include('@oclif/core')
  })
})
