// Mutual TLS on the control plane `ec up` starts (real etcd, real Placement):
// who gets in (the local admin, a bundle's holder on another "machine") and
// who does not (no certificate, another CA's, a revoked one, plain HTTP).
import {expect} from 'chai'
import {readFileSync as read, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {CertificateAuthority} from '../../src/pki/authority.js'
import {startAgent, type RunningAgent} from '../helpers/agent.js'
import {makeSandbox, parseJson, runEc, type Sandbox} from '../helpers/cli.js'
import {startControlPlane, type TestControlPlane} from '../helpers/control-plane.js'
import {makeQcow2} from '../helpers/image-server.js'
import {freePorts} from '../helpers/ports.js'
import {etcdReads as probeEtcd, httpsGet as probeHttps} from '../helpers/tls-probes.js'

const CLIENT_CONFIG = [
  'backends: {metadata: none}',
  'libvirt: {uri: "test:///default"}',
  'compute:',
  '  leaseTtlSeconds: 3',
  '  shutdownGraceSeconds: 2',
  '  inventory: {VCPU: 4, MEMORY_MB: 4096, DISK_GB: 50}',
  '  reserved: {MEMORY_MB: 0}',
]

const httpsGet = (url: string, tls: Parameters<typeof probeHttps>[1]) => probeHttps(url, tls, 10_000)
const etcdReads = (endpoint: string, tls: Parameters<typeof probeEtcd>[1]) => probeEtcd(endpoint, tls, 3000)

describe('mutual TLS on the control plane (real etcd + Placement)', function () {
  this.timeout(180_000)
  let cp: TestControlPlane
  let pki: string
  let foreign: {cert: string; key: string}
  let machine2: Sandbox | undefined
  let agent: RunningAgent | undefined

  before(async () => {
    cp = await startControlPlane(CLIENT_CONFIG.join('\n'))
    pki = join(cp.stateDir, 'pki')
    // Another CA, made the same way: its clients must not get in.
    const other = new CertificateAuthority(join(cp.sandbox.dir, 'other-ca'))
    await other.ensure()
    foreign = await other.issueClient('admin')
  })

  after(async () => {
    await agent?.stop('SIGKILL')
    machine2?.cleanup()
    await cp?.stop()
  })

  it('keeps the CA key, server keys and the admin bundle owner-only', () => {
    const mode = (path: string) => (statSync(path).mode & 0o777).toString(8)
    expect(mode(pki)).to.equal('700')
    for (const file of ['ca.key', 'etcd.key', 'placement.key', 'clients/admin.key']) expect(mode(join(pki, file)), file).to.equal('600')
    expect(mode(cp.credentialsFile)).to.equal('600')
    expect(cp.etcdEndpoint).to.match(/^https:/)
    expect(cp.placementUrl).to.match(/^https:/)
  })

  it('etcd refuses plain HTTP, no certificate and another CA\'s; lets the admin in', async () => {
    const ca = join(pki, 'ca.crt')
    const serverName = 'etcd.ec'
    expect(await etcdReads(cp.etcdEndpoint.replace('https:', 'http:'), undefined), 'plain').to.equal(false)
    expect(await etcdReads(cp.etcdEndpoint, {ca, serverName}), 'no client certificate').to.equal(false)
    expect(await etcdReads(cp.etcdEndpoint, {ca, serverName, ...foreign}), 'another CA').to.equal(false)
    expect(await etcdReads(cp.etcdEndpoint, cp.clientTls), 'admin').to.equal(true)
  })

  it('Placement refuses no certificate and another CA\'s; lets the admin in', async () => {
    const ca = read(join(pki, 'ca.crt'))
    const none = await httpsGet(`${cp.placementUrl}/resource_providers`, {ca})
    expect(none.status, 'no client certificate').to.equal(undefined)
    const other = await httpsGet(`${cp.placementUrl}/resource_providers`, {ca, cert: read(foreign.cert), key: read(foreign.key)})
    expect(other.status, 'another CA').to.equal(undefined)
    const admin = await httpsGet(`${cp.placementUrl}/resource_providers`, {
      ca,
      cert: read(join(pki, 'clients/admin.crt')),
      key: read(join(pki, 'clients/admin.key')),
    })
    expect(admin.status).to.equal(200)
  })

  it('a bundle works on another machine for the CLI and an agent; revoking it shuts both services', async () => {
    machine2 = makeSandbox('ec-machine2-')
    const bundle = join(machine2.dir, 'm2.json')
    const issued = await cp.ec(['cluster', 'credentials', 'm2', '--out', bundle, '--json'])
    expect(issued.code, issued.stderr).to.equal(0)
    expect((statSync(bundle).mode & 0o777).toString(8)).to.equal('600')
    // The local admin's unix socket (no certificate, no CRL) is for no one else.
    expect(JSON.parse(read(bundle, 'utf8')).etcd).to.not.have.property('localSockets')
    expect((await cp.ec(['cluster', 'credentials', 'm2', '--out', bundle])).code, 'never overwrites').to.equal(5)

    // Machine 2: its own HOME and state, nothing of the control plane's but the bundle.
    const image = makeQcow2(machine2.dir)
    const config = join(machine2.dir, 'ec.config.yaml')
    writeFileSync(config, [...CLIENT_CONFIG, 'images:', `  base: {path: ${image}}`, ''].join('\n'))
    const env = {...machine2.env, EC_CONFIG: config}
    const m2 = (args: string[]) => runEc(args, {env, cwd: machine2!.dir})
    expect((await m2(['host', 'list'])).code, 'no credentials: refused').to.not.equal(0)

    agent = await startAgent({...env, EC_CREDENTIALS: bundle}, 'm2-host', join(machine2.dir, 'agent'))
    const created = await m2(['instance', 'create', 'via-m2', '--credentials', bundle, '--image', 'base', '--vcpus', '1', '--memory', '64', '--disk', '1', '--wait', '--json'])
    expect(created.code, created.stderr).to.equal(0)
    expect(parseJson<{state: string; host: {name: string}}>(created)).to.deep.include({state: 'ACTIVE'})
    const deleted = await m2(['instance', 'delete', 'via-m2', '--credentials', bundle])
    expect(deleted.code, deleted.stderr).to.equal(0)
    expect(await agent.stop()).to.equal(0)
    agent = undefined

    const revoked = await cp.ec(['cluster', 'revoke', 'm2', '--json'])
    expect(revoked.code, revoked.stderr).to.equal(0)
    expect(parseJson<{revoked: string[]}>(revoked).revoked).to.have.length(1)
    expect(await etcdReads(cp.etcdEndpoint, {credentials: bundle}), 'etcd after revoke').to.equal(false)
    const {ca, cert, key} = JSON.parse(read(bundle, 'utf8')) as {ca: string; cert: string; key: string}
    const placement = await httpsGet(`${cp.placementUrl}/resource_providers`, {ca: Buffer.from(ca), cert: Buffer.from(cert), key: Buffer.from(key)})
    expect(placement.status, 'Placement after revoke').to.equal(undefined)
    const list = await m2(['host', 'list', '--credentials', bundle])
    expect(list.code, list.stderr).to.equal(3)
    expect(list.stderr).to.match(/^Error: (etcd|Placement) at \S+ and ec do not accept each other's TLS certificates \(.*revoked.*\); check --credentials/i)
    expect(list.stderr.trim().split('\n')).to.have.length(1)
    // etcd alone (host list also asks Placement, which may answer first): it sends no alert, it closes the connection.
    const etcdRead = await m2(['instance', 'list', '--credentials', bundle])
    expect(etcdRead.code, etcdRead.stderr).to.equal(3)
    expect(etcdRead.stderr).to.match(/^Error: etcd at \S+ and ec do not accept each other's TLS certificates \(.*revoked.*\); check --credentials/)
    expect((await cp.ec(['host', 'list'])).code, 'the admin still gets in').to.equal(0)
    expect((await cp.ec(['cluster', 'revoke', 'm2'])).code, 'again').to.equal(0)
  })

  it('refuses to revoke the local admin (exit 2) or a name never issued (exit 6)', async () => {
    const admin = await cp.ec(['cluster', 'revoke', 'admin'])
    expect(admin.code).to.equal(2)
    expect(admin.stderr.trim().split('\n')).to.have.length(1)
    expect((await cp.ec(['cluster', 'revoke', 'nobody'])).code).to.equal(6)
    expect((await cp.ec(['cluster', 'credentials', 'bad/name'])).code).to.equal(2)
  })
})

describe('ec up --listen', function () {
  this.timeout(120_000)

  it('serves mutual TLS on another loopback address (127.0.0.2)', async () => {
    const sandbox = makeSandbox('ec-listen-')
    const [clientPort, peerPort, placementPort] = await freePorts(3)
    const config = join(sandbox.dir, 'ec.config.yaml')
    writeFileSync(config, `stateDir: ${join(sandbox.dir, 'state')}\ncontrolPlane: {etcd: {clientPort: ${clientPort}, peerPort: ${peerPort}}, placement: {port: ${placementPort}}}\n`)
    const ec = (args: string[]) => runEc(args, {env: {...sandbox.env, EC_CONFIG: config}, cwd: sandbox.dir})
    try {
      const up = await ec(['up', '--listen', '127.0.0.2', '--json'])
      expect(up.code, up.stderr).to.equal(0)
      const endpoints = parseJson<{services: Array<{endpoint: string}>}>(up).services.map((s) => s.endpoint)
      expect(endpoints).to.deep.equal([`https://127.0.0.2:${clientPort}`, `https://127.0.0.2:${placementPort}`])
      const hosts = await ec(['host', 'list', '--json'])
      expect(hosts.code, hosts.stderr).to.equal(0)
    } finally {
      await ec(['down', '--purge'])
      sandbox.cleanup()
    }
  })

  it('refuses plain HTTP on an address other than loopback without --insecure: exit 2, nothing written', async () => {
    const sandbox = makeSandbox('ec-plain-')
    try {
      const result = await runEc(['up', '--listen', '192.0.2.10', '--no-tls', '--state-dir', join(sandbox.dir, 'state')], {env: sandbox.env})
      expect(result.code).to.equal(2)
      expect(result.stderr.trim().split('\n')).to.have.length(1)
      expect(result.stderr).to.match(/^Error: plain HTTP on 192\.0\.2\.10 .*--insecure/)
      expect(() => statSync(join(sandbox.dir, 'state'))).to.throw()
    } finally {
      sandbox.cleanup()
    }
  })

  it('refuses a MySQL URL with its own init_command, where ec sets READ COMMITTED: exit 2, nothing written', async () => {
    const sandbox = makeSandbox('ec-initcmd-')
    try {
      const url = 'mysql+mysqldb://placement:pw@127.0.0.1:3307/placement?charset=utf8mb4&init_command=SET+sql_mode%3D%27%27'
      const result = await runEc(['up', '--database', url, '--state-dir', join(sandbox.dir, 'state')], {env: sandbox.env})
      expect(result.code, result.stderr).to.equal(2)
      expect(result.stderr.trim().split('\n')).to.have.length(1)
      expect(result.stderr).to.match(/^Error: controlPlane\.placement\.database sets init_command, .*remove init_command from the URL/)
      expect(() => statSync(join(sandbox.dir, 'state'))).to.throw()
    } finally {
      sandbox.cleanup()
    }
  })
})
