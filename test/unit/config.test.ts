import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {loadConfig} from '../../src/config/load.js'
import {REDACTED, redact} from '../../src/config/secrets.js'
import type {ConfigSection} from '@ec/plugin-api'
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
      `unknown config key "controlPlane.etcd.clientport" in ${file}; known keys under controlPlane.etcd: clientPort, peerPort, peers, members`,
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
    expect(error.message).to.match(/^unknown config key "consul" in .*ec\.config\.yaml; known keys: backends, stateDir, credentials, controlPlane, compute, scheduling, flavors, images, kv$/)
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
    expect(missing.message).to.equal(`config file "${join(sandbox.dir, 'nope.yaml')}" (from --config) does not exist; check the path`)
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

  describe('code config files', () => {
    // A config that leaves a mark when it runs, so a test sees whether it was executed.
    const codeConfig = (file: string, marker: string, cjs = false) =>
      writeFileSync(
        file,
        cjs
          ? `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran'); module.exports = {stateDir: '/from/code'}\n`
          : `import {writeFileSync} from 'node:fs'\nwriteFileSync(${JSON.stringify(marker)}, 'ran')\nexport default {stateDir: '/from/code'}\n`,
      )

    for (const name of ['ec.config.mjs', 'ec.config.js', '.ecrc.js']) {
      it(`refuses ${name} found by the search, without running it, and says how to use it`, async () => {
        const file = join(sandbox.dir, 'project', name)
        const marker = join(sandbox.dir, 'ran')
        codeConfig(file, marker, name.endsWith('.js'))
        const error = await rejection(load())
        expect(error.reason).to.equal('config')
        expect(error.message).to.equal(
          `config file "${file}" is code, and ec runs code only from a file you name: use --config ${file} (or EC_CONFIG), move it to ~/.config/ec/, or write it as YAML or JSON`,
        )
        expect(existsSync(marker), 'the code ran').to.equal(false)
      })
    }

    it('runs a code config named by --config or EC_CONFIG, or kept in the user config directory', async () => {
      const file = join(sandbox.dir, 'project', 'ec.config.mjs')
      const marker = join(sandbox.dir, 'ran')
      codeConfig(file, marker)
      expect((await load({configFile: file})).values.stateDir).to.equal('/from/code')
      expect(existsSync(marker)).to.equal(true)
      expect((await load({env: {...sandbox.env, EC_CONFIG: file}})).values.stateDir).to.equal('/from/code')
      const userDir = join(sandbox.env.XDG_CONFIG_HOME!, 'ec')
      mkdirSync(userDir, {recursive: true})
      codeConfig(join(userDir, 'config.mjs'), join(sandbox.dir, 'ran-user'))
      const elsewhere = join(sandbox.dir, 'elsewhere')
      mkdirSync(elsewhere)
      expect((await loadConfig({sections: [kvSection], env: sandbox.env, cwd: elsewhere})).file).to.equal(join(userDir, 'config.mjs'))
      expect(existsSync(join(sandbox.dir, 'ran-user'))).to.equal(true)
    })

    it('refuses a FIFO found by the search at once instead of waiting for a writer', async () => {
      execFileSync('mkfifo', [join(cwd, 'ec.config.yaml')])
      const error = await rejection(load())
      expect(error.message).to.equal(`config file "${join(cwd, 'ec.config.yaml')}" (found by the search) is not a regular file; point at a YAML, JSON or JS file`)
    })
  })

  it('remembers a config that passed, and still refuses a changed one that does not', async () => {
    const cacheDir = join(sandbox.dir, 'cache')
    const file = join(cwd, 'ec.config.yaml')
    const passed = () => readdirSync(join(cacheDir, 'validators')).filter((f) => f.startsWith('valid-'))
    writeFileSync(file, 'kv:\n  timeoutMs: 5\n')
    expect((await load({cacheDir})).values.kv).to.include({timeoutMs: 5})
    expect(passed()).to.have.length(1)
    // Served from the mark: the compiled validator is not even read.
    rmSync(join(cacheDir, 'validators', readdirSync(join(cacheDir, 'validators')).find((f) => f.endsWith('.cjs'))!))
    expect((await load({cacheDir})).values.kv).to.include({timeoutMs: 5})
    writeFileSync(file, 'kv:\n  timeoutMs: fast\n')
    expect((await rejection(load({cacheDir}))).message).to.equal(`invalid config key "kv.timeoutMs" in ${file}: must be integer`)
    // The same values under another schema (a section that forbids them) are checked afresh.
    writeFileSync(file, 'kv:\n  timeoutMs: 5\n')
    const strict: ConfigSection = {...kvSection, schema: {...kvSection.schema, properties: {...(kvSection.schema.properties as object), timeoutMs: {type: 'integer', maximum: 1}}}}
    expect((await rejection(load({cacheDir, sections: [strict]}))).message).to.equal(`invalid config key "kv.timeoutMs" in ${file}: must be <= 1`)
    expect(passed()).to.have.length(1)
  })

  it("refuses flavor and inventory amounts beyond Placement's 2^31-1 by file and key", async () => {
    writeFileSync(join(cwd, 'ec.config.yaml'), 'flavors:\n  huge: {vcpus: 2147483648, memoryMb: 1, diskGb: 1}\n')
    const error = await rejection(load())
    expect(error.reason).to.equal('config')
    expect(error.message).to.equal(`invalid config key "flavors.huge.vcpus" in ${join(cwd, 'ec.config.yaml')}: must be <= 2147483647`)
    writeFileSync(join(cwd, 'ec.config.yaml'), 'compute: {inventory: {VCPU: 100000000000000000000}}\n')
    expect((await rejection(load())).message).to.match(/^invalid config key "compute.inventory.VCPU" .*: must be <= 2147483647$/)
  })

  it('lists the secret keys a section marks writeOnly, and redacts only those', async () => {
    const schema = {...kvSection.schema, properties: {...(kvSection.schema.properties as object), password: {type: 'string', writeOnly: true}}}
    const section: ConfigSection = {...kvSection, schema, env: {...kvSection.env, EC_KV_PASSWORD: {key: 'password', type: 'string'}}}
    const unset = await loadConfig({sections: [section], env: sandbox.env, cwd})
    expect(unset.secrets).to.deep.equal([])
    const config = await loadConfig({sections: [section], env: {...sandbox.env, EC_KV_PASSWORD: 'hunter2'}, cwd})
    expect(config.secrets).to.deep.equal(['kv.password'])
    expect(config.values.kv).to.include({password: 'hunter2'})
    const shown = redact(config.values, config.secrets)
    expect(shown.kv).to.deep.equal({...(config.values.kv as object), password: REDACTED})
    expect(JSON.stringify(shown)).not.to.include('hunter2')
    expect(config.values.kv).to.include({password: 'hunter2'}, 'redact copies; the config itself keeps the value')
  })
})
