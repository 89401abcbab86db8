// `ec instance list` on its fast path (src/startup/instance-list.ts: no
// oclif, reads etcd with one HTTP/2 gRPC call) against a real control plane
// under mutual TLS: the same output and exit codes as the oclif command, no
// oclif loaded, failover across members (one refusing, one that accepts and
// never answers), exit 4 at once when no member answers, the server's
// certificate still checked by name, and the local admin's unix socket used
// (and left for TLS when it cannot be). About 30-60 s on a loaded machine, most
// of it `ec up`.
import {expect} from 'chai'
import {readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {createServer, type Server, type Socket} from 'node:net'
import {dirname, join} from 'node:path'

import {EtcdCliTransport} from '../../plugins/etcd/src/cli-transport.js'
import {EtcdTransport} from '../../plugins/etcd/src/transport.js'
import {CertificateAuthority} from '../../src/pki/authority.js'
import {runEc} from '../helpers/cli.js'
import {startControlPlane, type TestControlPlane} from '../helpers/control-plane.js'
import {freePorts} from '../helpers/ports.js'

const at = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString()

function record(i: number, state: string, host: string) {
  const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`
  return {
    id,
    name: `vm-${i}`,
    state,
    spec: {
      vcpus: 1 + (i % 3),
      memoryMb: 256,
      diskGb: 1,
      resources: {VCPU: 1 + (i % 3), MEMORY_MB: 256, DISK_GB: 1},
      requiredTraits: [],
      forbiddenTraits: [],
      memberOf: [],
      image: {ref: 'base', url: 'file:///srv/base.qcow2'},
      publicKeys: [],
      meta: {},
    },
    host: {id: `11111111-1111-4111-8111-${String(host.length).padStart(12, '0')}`, name: host},
    steps: {},
    ...(state === 'ERROR' ? {error: {reason: 'disk full', step: 'disk', at: at(i)}} : {address: `10.0.0.${i}`}),
    buildAttempts: 1,
    // Out of creation order, so the sort is seen to happen.
    createdAt: at(20 - i),
    updatedAt: at(20 - i),
  }
}

interface LocalBundle {
  cert: string
  key: string
  etcd: {serverName?: string; localSockets?: Record<string, string>}
}

describe('ec instance list without oclif (real etcd under mutual TLS)', function () {
  this.timeout(180_000)
  let cp: TestControlPlane
  let blackhole: Server
  const held: Socket[] = []
  const ec = (args: string[], env: NodeJS.ProcessEnv = cp.env) => runEc(args, {env, cwd: cp.sandbox.dir})
  const writeBundleCopy = (name: string, bundle: LocalBundle) => {
    const file = join(cp.sandbox.dir, `${name}.credentials.json`)
    writeFileSync(file, JSON.stringify(bundle), {mode: 0o600})
    return file
  }

  before(async () => {
    // A generous client deadline: a loaded machine must not fail the failover case on time alone.
    cp = await startControlPlane('etcd: {timeoutMs: 20000}')
    const transport = new EtcdTransport({endpoints: [cp.etcdEndpoint], prefix: '/ec', timeoutMs: 10_000, tls: cp.clientTls})
    try {
      const ops = []
      for (let i = 1; i <= 12; i++) {
        const r = record(i, i % 4 === 0 ? 'ERROR' : 'ACTIVE', i % 2 ? 'host-a' : 'host-bb')
        ops.push({op: 'put' as const, key: `instances/${r.id}`, value: JSON.stringify(r)}, {op: 'put' as const, key: `names/${r.name}`, value: r.id})
      }

      expect((await transport.commit([], ops)).ok).to.equal(true)
    } finally {
      await transport.close()
    }

    // A member that accepts connections and never answers (as a frozen etcd's kernel does).
    blackhole = createServer((socket) => held.push(socket))
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve))
  })

  after(async () => {
    for (const socket of held) socket.destroy()
    await new Promise((resolve) => blackhole?.close(resolve))
    await cp?.stop()
  })

  const cases = [
    ['--json'],
    ['--state', 'ERROR', '--json'],
    ['--host=host-bb', '--sort', '-vcpus,name', '--json'],
    [],
    ['--columns', 'name,state,host', '--sort=-created'],
    ['-q', '--state', 'ACTIVE'],
    ['--columns', 'nope'],
    ['--sort', 'name', '--credentials', '/nonexistent/bundle.json'],
  ]
  for (const args of cases) {
    it(`prints what the oclif command prints: ${args.join(' ') || '(no flags)'}`, async () => {
      // "instance:list" is the same command, which bin/run.js leaves to oclif.
      const [fast, slow] = await Promise.all([ec(['instance', 'list', ...args]), ec(['instance:list', ...args])])
      expect(fast.code, fast.stderr).to.equal(slow.code)
      expect(fast.stdout).to.equal(slow.stdout)
      expect(fast.stderr).to.equal(slow.stderr)
      if (args.includes('--json')) expect(JSON.parse(fast.stdout)).to.be.an('array').that.is.not.empty
    })
  }

  it('orders, filters and shapes the rows', async () => {
    const all = JSON.parse((await ec(['instance', 'list', '--json'])).stdout) as Array<{name: string; createdAt: string}>
    expect(all.map((r) => r.name)).to.deep.equal(Array.from({length: 12}, (_, i) => `vm-${12 - i}`))
    const errors = JSON.parse((await ec(['instance', 'list', '--state', 'ERROR', '--json'])).stdout) as Array<{name: string}>
    expect(errors.map((r) => r.name)).to.deep.equal(['vm-12', 'vm-8', 'vm-4'])
    const table = await ec(['instance', 'list', '--host', 'host-a', '--columns', 'name,host'])
    expect(table.stdout.trim().split('\n').map((l) => l.split(/\s+/))).to.deep.equal([
      ['NAME', 'HOST'],
      ...[11, 9, 7, 5, 3, 1].map((i) => [`vm-${i}`, 'host-a']),
    ])
  })

  it('loads no oclif (the oclif form does, so the probe can tell)', async () => {
    const env = {...cp.env, NODE_DEBUG: 'module'}
    const fast = await ec(['instance', 'list', '--json'], env)
    expect(fast.code, fast.stderr).to.equal(0)
    expect(fast.stderr).to.not.include('@oclif/core')
    const slow = await ec(['instance:list', '--json'], env)
    expect(slow.stderr).to.include('@oclif/core')
  })

  it('runs from the code V8 kept for it last time, and imports what it needs from that code', async () => {
    const cacheDir = join(cp.sandbox.dir, 'cache', 'ec')
    const slow = await ec(['instance:list', '--json'])
    expect((await ec(['instance', 'list', '--json'])).code).to.equal(0) // keeps the code, if no run before did
    const [kept, ...others] = readdirSync(join(cacheDir, 'code'))
    expect(others).to.deep.equal([])
    const keptAt = statSync(join(cacheDir, 'code', kept)).mtimeMs
    // Without the kept config parse and validator, the list imports js-yaml and Ajv again.
    for (const dir of ['config-yaml', 'validators']) rmSync(join(cacheDir, dir), {recursive: true, force: true})
    const fast = await ec(['instance', 'list', '--json'])
    expect(fast.code, fast.stderr).to.equal(0)
    expect(fast.stderr).to.equal('')
    expect(fast.stdout).to.equal(slow.stdout)
    expect(readdirSync(join(cacheDir, 'config-yaml'))).to.have.length(1)
    expect(readdirSync(join(cacheDir, 'validators'))).to.not.be.empty
    // Ran from the kept code: a compile from source would have kept its own.
    expect(statSync(join(cacheDir, 'code', kept)).mtimeMs).to.equal(keptAt)
  })

  it("imports no plugin's hook file: ec's own hooks run from its bundle (the oclif form imports them)", async () => {
    const env = {...cp.env, NODE_DEBUG: 'esm'}
    const fast = await ec(['instance', 'list', '-q'], env)
    expect(fast.code, fast.stderr).to.equal(0)
    expect(fast.stdout.trim().split('\n')).to.have.length(12)
    expect(fast.stderr).to.not.include('hooks/backends.js')
    const slow = await ec(['instance:list', '-q'], env)
    expect(slow.stderr).to.include('/plugins/etcd/dist/hooks/backends.js')
  })

  it('leaves what it does not parse to oclif: its errors, exit 2', async () => {
    for (const args of [['--bogus'], ['--state', 'SLEEPING'], ['extra'], ['--host']]) {
      const result = await ec(['instance', 'list', ...args])
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).to.equal(2)
      expect(result.stderr).to.match(/Error: /) // oclif's own wording (an extra word is "command … not found")
    }
  })

  it('fails over to the next member past one that refuses and one that never answers', async () => {
    const [dead] = await freePorts(1)
    const endpoints = [`https://127.0.0.1:${dead}`, `https://127.0.0.1:${(blackhole.address() as {port: number}).port}`, cp.etcdEndpoint]
    const started = Date.now()
    const result = await ec(['instance', 'list', '-q'], {...cp.env, EC_ETCD_ENDPOINTS: endpoints.join(',')})
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stdout.trim().split('\n')).to.have.length(12)
    expect(Date.now() - started).to.be.below(60_000)
  })

  it('reports etcd down at once: exit 4, the endpoints named (JSON with --json)', async () => {
    const [a, b] = await freePorts(2)
    const endpoints = `https://127.0.0.1:${a},https://127.0.0.1:${b}`
    const env = {...cp.env, EC_ETCD_ENDPOINTS: endpoints}
    const started = Date.now()
    const plain = await ec(['instance', 'list'], env)
    expect(Date.now() - started).to.be.below(15_000)
    expect(plain.code).to.equal(4)
    expect(plain.stdout).to.equal('')
    expect(plain.stderr).to.equal(
      `Error: etcd at ${endpoints.replace(',', ', ')} does not answer; start a local control plane with "ec up" or set etcd.endpoints (EC_ETCD_ENDPOINTS)\n`,
    )
    const json = await ec(['instance', 'list', '--json'], env)
    expect(json.code).to.equal(4)
    expect(JSON.parse(json.stdout)).to.deep.include({error: {reason: 'unavailable', message: plain.stderr.slice('Error: '.length).trim(), exitCode: 4}})
  })

  it("still checks etcd's certificate by name: a bundle naming another server is refused (exit 3)", async () => {
    const bundle = JSON.parse(readFileSync(cp.credentialsFile, 'utf8')) as LocalBundle
    bundle.etcd.serverName = 'not-etcd.example'
    delete bundle.etcd.localSockets // over TLS: the local socket checks no name
    const result = await ec(['instance', 'list', '--credentials', writeBundleCopy('wrong-name', bundle)])
    expect(result.code, result.stderr).to.equal(3)
    expect(result.stderr).to.match(/do not accept each other's TLS certificates/)
  })

  it("reads through the local admin's unix socket, which only its owner may use, without TLS", async () => {
    const bundle = JSON.parse(readFileSync(cp.credentialsFile, 'utf8')) as LocalBundle
    const socket = bundle.etcd.localSockets?.[cp.etcdEndpoint]
    expect(socket, 'the local bundle names the socket').to.equal(join(cp.stateDir, 'etcd', 'client.sock:0'))
    const stat = statSync(socket!)
    expect(stat.isSocket()).to.equal(true)
    expect(stat.mode & 0o022, 'nobody but its owner may connect').to.equal(0)
    expect(statSync(dirname(socket!)).mode & 0o777).to.equal(0o700)
    // A certificate etcd refuses: a read that still succeeds went through the socket.
    const other = new CertificateAuthority(join(cp.sandbox.dir, 'socket-ca'))
    await other.ensure()
    const foreign = await other.issueClient('admin')
    bundle.cert = readFileSync(foreign.cert, 'utf8')
    bundle.key = readFileSync(foreign.key, 'utf8')
    const viaSocket = await ec(['instance', 'list', '-q', '--credentials', writeBundleCopy('foreign-cert', bundle)])
    expect(viaSocket.code, viaSocket.stderr).to.equal(0)
    expect(viaSocket.stdout.trim().split('\n')).to.have.length(12)
    delete bundle.etcd.localSockets
    const overTls = await ec(['instance', 'list', '-q', '--credentials', writeBundleCopy('foreign-cert-no-socket', bundle)])
    expect(overTls.code, overTls.stderr).to.equal(3)
  })

  it('falls back to TLS to the same member when the socket is gone or is not a socket', async () => {
    const notSocket = join(cp.sandbox.dir, 'not-a-socket')
    writeFileSync(notSocket, '')
    for (const [name, path] of [['gone', join(cp.sandbox.dir, 'no-such.sock')], ['not a socket', notSocket]]) {
      const bundle = JSON.parse(readFileSync(cp.credentialsFile, 'utf8')) as LocalBundle
      bundle.etcd.localSockets = {[cp.etcdEndpoint]: path}
      const result = await ec(['instance', 'list', '-q', '--credentials', writeBundleCopy(name.replaceAll(' ', '-'), bundle)])
      expect(result.code, `${name}: ${result.stderr}`).to.equal(0)
      expect(result.stdout.trim().split('\n'), name).to.have.length(12)
    }
  })

  it('refuses and admits exactly whom the gRPC transport does: no client certificate, another CA, the admin', async () => {
    const other = new CertificateAuthority(join(cp.sandbox.dir, 'other-ca'))
    await other.ensure()
    const foreign = await other.issueClient('admin')
    const ca = join(cp.stateDir, 'pki', 'ca.crt')
    const outcome = async (transport: EtcdTransport | EtcdCliTransport) => {
      try {
        return `ok ${(await transport.list('instances/')).items.map((kv) => kv.key).join(',')}`
      } catch (error) {
        return `refused: ${(error as {reason?: string}).reason}`
      } finally {
        await transport.close()
      }
    }

    const variants = {
      'no client certificate': {ca, serverName: 'etcd.ec'},
      'another CA': {ca, serverName: 'etcd.ec', ...foreign},
      admin: cp.clientTls,
    }
    for (const [name, tls] of Object.entries(variants)) {
      const settings = {endpoints: [cp.etcdEndpoint], prefix: '/ec', timeoutMs: 10_000, tls}
      const [grpc, http2] = await Promise.all([outcome(new EtcdTransport(settings)), outcome(new EtcdCliTransport(settings))])
      expect(http2, name).to.equal(grpc)
      expect(http2, name).to.match(name === 'admin' ? /^ok instances\// : /^refused: config$/)
    }
  })
})
