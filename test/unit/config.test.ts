import {expect} from 'chai'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {loadConfig} from '../../src/config/load.js'
import type {ConfigSection} from '../../src/plugins/backend.js'
import {makeSandbox, type Sandbox} from '../helpers/cli.js'

// A plugin-owned section, as a backend would declare it.
const kvSection: ConfigSection = {
  key: 'kv',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      endpoints: {type: 'array', items: {type: 'string'}},
      timeoutMs: {type: 'integer', minimum: 1},
      verbose: {type: 'boolean'},
    },
  },
  defaults: (cp) => ({endpoints: [`http://${cp.host}:${cp.etcdClientPort}`], timeoutMs: 100, verbose: false}),
  env: {
    EC_KV_ENDPOINTS: {key: 'endpoints', type: 'list'},
    EC_KV_TIMEOUT_MS: {key: 'timeoutMs', type: 'integer'},
    EC_KV_VERBOSE: {key: 'verbose', type: 'boolean'},
  },
}

async function rejection(promise: Promise<unknown>): Promise<Error & {reason?: string}> {
  try {
    await promise
  } catch (error) {
    return error as Error
  }

  throw new Error('expected a rejection')
}

describe('config loading', () => {
  let sandbox: Sandbox
  let cwd: string
  beforeEach(() => {
    sandbox = makeSandbox('ec-config-')
    cwd = join(sandbox.dir, 'project', 'sub')
    mkdirSync(cwd, {recursive: true})
  })
  afterEach(() => sandbox.cleanup())

  const load = (extra: Partial<Parameters<typeof loadConfig>[0]> = {}) =>
    loadConfig({sections: [kvSection], env: sandbox.env, cwd, ...extra})

  it('uses defaults that point at the local control plane when no file exists', async () => {
    const config = await load()
    expect(config.file).to.equal(undefined)
    expect(config.values.backends).to.deep.equal({
      scheduler: 'placement',
      transport: 'etcd',
      hypervisor: 'libvirt',
      metadata: 'mdserver',
    })
    expect(config.values.stateDir).to.equal(join(sandbox.dir, 'state', 'ec'))
    expect(config.values.kv).to.deep.equal({endpoints: ['http://127.0.0.1:2379'], timeoutMs: 100, verbose: false})
    expect(config.origins.get('kv.timeoutMs')).to.deep.equal({kind: 'default'})
  })

  it('finds ec.config.yaml in a parent directory and derives section defaults from its ports', async () => {
    const file = join(sandbox.dir, 'project', 'ec.config.yaml')
    writeFileSync(file, 'controlPlane:\n  etcd:\n    clientPort: 12379\n')
    const config = await load()
    expect(config.file).to.equal(file)
    expect(config.values.controlPlane.etcd.clientPort).to.equal(12_379)
    expect(config.values.controlPlane.etcd.peerPort).to.equal(2380)
    expect((config.values.kv as {endpoints: string[]}).endpoints).to.deep.equal(['http://127.0.0.1:12379'])
    expect(config.origins.get('controlPlane.etcd.clientPort')).to.deep.equal({kind: 'file', file})
  })

  it('finds .ecrc.json and the XDG config directory, nearest first', async () => {
    const global = join(sandbox.dir, 'config', 'ec', 'config.yaml')
    mkdirSync(join(sandbox.dir, 'config', 'ec'), {recursive: true})
    writeFileSync(global, 'stateDir: /from/global\n')
    expect((await load()).file).to.equal(global)
    writeFileSync(join(cwd, '.ecrc.json'), '{"stateDir": "/from/rc"}')
    const config = await load()
    expect(config.file).to.equal(join(cwd, '.ecrc.json'))
    expect(config.values.stateDir).to.equal('/from/rc')
  })

  it('layers defaults < file < environment < flags and records each origin', async () => {
    const file = join(cwd, 'ec.config.yaml')
    writeFileSync(file, 'stateDir: /from/file\nkv:\n  timeoutMs: 200\n  endpoints: [http://a:1]\n')
    sandbox.env.EC_KV_ENDPOINTS = 'http://b:2, http://c:3'
    sandbox.env.EC_STATE_DIR = '/from/env'
    const config = await load({
      overrides: [{path: ['stateDir'], value: '/from/flag', origin: {kind: 'flag', flag: '--state-dir'}}],
    })
    expect(config.values.stateDir).to.equal('/from/flag')
    expect(config.origins.get('stateDir')).to.deep.equal({kind: 'flag', flag: '--state-dir'})
    expect(config.values.kv).to.deep.equal({endpoints: ['http://b:2', 'http://c:3'], timeoutMs: 200, verbose: false})
    expect(config.origins.get('kv.endpoints')).to.deep.equal({kind: 'env', variable: 'EC_KV_ENDPOINTS'})
    expect(config.origins.get('kv.timeoutMs')).to.deep.equal({kind: 'file', file})
  })

  it('parses typed environment values and rejects bad ones by name', async () => {
    sandbox.env.EC_KV_TIMEOUT_MS = '250'
    sandbox.env.EC_KV_VERBOSE = 'yes'
    expect((await load()).values.kv).to.include({timeoutMs: 250, verbose: true})
    sandbox.env.EC_KV_TIMEOUT_MS = 'soon'
    const error = await rejection(load())
    expect(error.reason).to.equal('config')
    expect(error.message).to.equal('EC_KV_TIMEOUT_MS must be an integer, got "soon"')
  })

  it('prefers --config over EC_CONFIG over the search', async () => {
    writeFileSync(join(cwd, 'ec.config.yaml'), 'stateDir: /searched\n')
    const viaEnv = join(sandbox.dir, 'env.yaml')
    const viaFlag = join(sandbox.dir, 'flag.json')
    writeFileSync(viaEnv, 'stateDir: /env\n')
    writeFileSync(viaFlag, '{"stateDir": "/flag"}')
    sandbox.env.EC_CONFIG = viaEnv
    expect((await load()).values.stateDir).to.equal('/env')
    expect((await load({configFile: viaFlag})).values.stateDir).to.equal('/flag')
  })

  it('names the file and the key of an unknown key, and lists the known ones', async () => {
    const file = join(cwd, 'ec.config.yaml')
    writeFileSync(file, 'controlPlane:\n  etcd:\n    clientport: 1\n')
    const error = await rejection(load())
    expect(error.reason).to.equal('config')
    expect(error.message).to.equal(
      `unknown config key "controlPlane.etcd.clientport" in ${file}; known keys under controlPlane.etcd: clientPort, peerPort`,
    )
  })

  it('names the file and the key of a wrongly typed value, in a plugin section too', async () => {
    const file = join(cwd, 'ec.config.yaml')
    writeFileSync(file, 'kv:\n  timeoutMs: fast\n')
    const error = await rejection(load())
    expect(error.message).to.equal(`invalid config key "kv.timeoutMs" in ${file}: must be integer`)
  })

  it('rejects a key no installed plugin owns', async () => {
    writeFileSync(join(cwd, 'ec.config.yaml'), 'kv: {}\nconsul:\n  url: x\n')
    const error = await rejection(load())
    expect(error.message).to.match(/^unknown config key "consul" in .*ec\.config\.yaml; known keys: backends, stateDir, controlPlane, compute, scheduling, flavors, images, kv$/)
  })

  it('blames the environment variable when an env value is invalid', async () => {
    sandbox.env.EC_KV_ENDPOINTS = ','
    const schema = {...kvSection.schema, properties: {...(kvSection.schema.properties as object), endpoints: {type: 'array', minItems: 1}}}
    const section: ConfigSection = {...kvSection, schema}
    const error = await rejection(loadConfig({sections: [section], env: sandbox.env, cwd}))
    expect(error.message).to.include('in environment variable EC_KV_ENDPOINTS')
  })

  it('reports malformed YAML and missing explicit files in one line', async () => {
    const file = join(cwd, 'ec.config.yaml')
    writeFileSync(file, 'controlPlane: [\n')
    const malformed = await rejection(load())
    expect(malformed.reason).to.equal('config')
    expect(malformed.message).to.match(new RegExp(`^cannot read config file ${file}: .+\\(2:1\\)$`))
    const missing = await rejection(load({configFile: join(sandbox.dir, 'nope.yaml')}))
    expect(missing.message).to.equal(`config file ${join(sandbox.dir, 'nope.yaml')} (from --config) does not exist; check the path`)
  })

  it('rejects a file that is not a mapping', async () => {
    writeFileSync(join(cwd, 'ec.config.yaml'), '- a\n- b\n')
    const error = await rejection(load())
    expect(error.message).to.match(/must hold a mapping of keys to values$/)
  })

  it('treats an empty file as no settings', async () => {
    writeFileSync(join(cwd, 'ec.config.yaml'), '')
    const config = await load()
    expect(config.file).to.equal(join(cwd, 'ec.config.yaml'))
    expect(config.values.controlPlane.placement.port).to.equal(8778)
  })
})
