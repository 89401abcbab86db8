// Clients find their credentials bundle through config: the one named
// (--credentials, EC_CREDENTIALS, `credentials:`), else the local admin's
// that `ec up` wrote under the state directory; the etcd and Placement
// sections then default to its endpoints and certificate.
import {expect} from 'chai'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {etcdSection} from '../../plugins/etcd/src/config.js'
import {placementSection} from '../../plugins/placement/src/config.js'
import {loadConfig} from '../../src/config/load.js'
import {isLoopback} from '../../src/control-plane/cluster-tls.js'
import {makeSandbox, type Sandbox} from '../helpers/cli.js'

const bundle = (etcd: string, placement: string) =>
  JSON.stringify({name: 'n', etcd: {endpoints: [etcd]}, placement: {urls: [placement]}, ca: 'C', cert: 'T', key: 'K'})

describe('credentials in config', () => {
  let sandbox: Sandbox
  beforeEach(() => (sandbox = makeSandbox('ec-credentials-')))
  afterEach(() => sandbox.cleanup())
  const load = (env: NodeJS.ProcessEnv = {}) =>
    loadConfig({sections: [etcdSection, placementSection], env: {...sandbox.env, ...env}, cwd: sandbox.dir})

  it('uses plain HTTP defaults when no bundle exists', async () => {
    const {values} = await load()
    expect(values.credentials).to.equal(undefined)
    expect(values.etcd).to.not.have.property('tls')
    expect((values.etcd as {endpoints: string[]}).endpoints).to.deep.equal(['http://127.0.0.1:2379'])
  })

  it('follows stateDir to the local admin\'s bundle and takes its endpoints', async () => {
    const stateDir = join(sandbox.dir, 'state', 'ec')
    mkdirSync(stateDir, {recursive: true})
    const file = join(stateDir, 'credentials.json')
    writeFileSync(file, bundle('https://127.0.0.2:1', 'https://127.0.0.2:2'))
    const {values, origins} = await load()
    expect(values.credentials).to.equal(file)
    expect(origins.get('credentials')).to.deep.equal({kind: 'default'})
    expect(values.etcd).to.deep.include({endpoints: ['https://127.0.0.2:1'], tls: {credentials: file}})
    expect(values.placement).to.deep.include({url: 'https://127.0.0.2:2', tls: {credentials: file}})
  })

  it('finds the configured state directory\'s bundle when --state-dir points elsewhere (a second agent)', async () => {
    const stateDir = join(sandbox.dir, 'state', 'ec')
    mkdirSync(stateDir, {recursive: true})
    const file = join(stateDir, 'credentials.json')
    writeFileSync(file, bundle('https://127.0.0.2:1', 'https://127.0.0.2:2'))
    const {values} = await loadConfig({
      sections: [etcdSection],
      env: sandbox.env,
      cwd: sandbox.dir,
      overrides: [{path: ['stateDir'], value: join(sandbox.dir, 'agent-b'), origin: {kind: 'flag', flag: '--state-dir'}}],
    })
    expect(values.stateDir).to.equal(join(sandbox.dir, 'agent-b'))
    expect(values.credentials).to.equal(file)
    expect(values.etcd).to.deep.include({endpoints: ['https://127.0.0.2:1'], tls: {credentials: file}})
  })

  it('takes EC_CREDENTIALS over the local bundle, and explicit endpoints over the bundle\'s', async () => {
    const file = join(sandbox.dir, 'm2.json')
    writeFileSync(file, bundle('https://10.0.0.1:2379', 'https://10.0.0.1:8778'))
    const {values} = await load({EC_CREDENTIALS: file, EC_PLACEMENT_URL: 'https://10.0.0.9:8778'})
    expect(values.etcd).to.deep.include({endpoints: ['https://10.0.0.1:2379'], tls: {credentials: file}})
    expect(values.placement).to.deep.include({url: ['https://10.0.0.9:8778'], tls: {credentials: file}})
  })

  it('rejects a missing or malformed bundle with a config error naming it', async () => {
    const missing = await load({EC_CREDENTIALS: join(sandbox.dir, 'nope.json')}).catch((error: Error) => error)
    expect(missing).to.include({reason: 'config'})
    expect((missing as Error).message).to.match(/^credentials file .*nope\.json \(from environment variable EC_CREDENTIALS\) cannot be read \(ENOENT\)/)
    const partial = join(sandbox.dir, 'partial.json')
    writeFileSync(partial, JSON.stringify({name: 'x', ca: 'C'}))
    const bad = await load({EC_CREDENTIALS: partial}).catch((error: Error) => error)
    expect((bad as Error).message).to.match(/lacks cert, key, etcd\.endpoints, placement\.urls/)
  })

  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', '127.255.0.9', '::1', 'localhost']) expect(isLoopback(host), host).to.equal(true)
    for (const host of ['0.0.0.0', '10.0.0.5', '192.0.2.10', '128.0.0.1', 'example.org']) expect(isLoopback(host), host).to.equal(false)
  })
})
