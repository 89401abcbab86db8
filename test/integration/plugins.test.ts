// A backend contributed by a plugin that is not part of ec: linked in with
// `ec plugins link`, it is found through the ec-backends hook with no change
// to core, and its config section is validated like core's own.
import {expect} from 'chai'
import {execFile} from 'node:child_process'
import {mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {makeSandbox, parseJson, runEc, type Sandbox} from '../helpers/cli.js'

interface Listing {
  kind: string
  name: string
  plugin: string
  selected: boolean
  configKey: string | null
}

const HOOK = `export default async function backends() {
  return [{
    kind: 'transport',
    name: 'memkv',
    description: 'an in-memory transport, for this test',
    config: {
      key: 'memkv',
      schema: {type: 'object', additionalProperties: false, properties: {shards: {type: 'integer', minimum: 1}}},
      defaults: () => ({shards: 1}),
      env: {EC_MEMKV_SHARDS: {key: 'shards', type: 'integer'}},
    },
    async create() { throw new Error('not used by this test') },
  }]
}
`

describe('a backend from a linked plugin', function () {
  this.timeout(60_000)
  let sandbox: Sandbox
  let env: NodeJS.ProcessEnv
  let configFile: string
  before(async () => {
    sandbox = makeSandbox('ec-plugin-')
    const pluginDir = join(sandbox.dir, 'ec-plugin-memkv')
    mkdirSync(pluginDir)
    writeFileSync(
      join(pluginDir, 'package.json'),
      JSON.stringify({
        name: 'ec-plugin-memkv',
        version: '1.0.0',
        type: 'module',
        oclif: {hooks: {'ec-backends': './hook.js'}},
      }),
    )
    writeFileSync(join(pluginDir, 'hook.js'), HOOK)
    configFile = join(sandbox.dir, 'ec.config.yaml')
    writeFileSync(configFile, 'backends:\n  transport: memkv\n')
    env = {...sandbox.env, EC_CONFIG: configFile}
    const linked = await runEc(['plugins', 'link', pluginDir, '--no-install'], {env})
    expect(linked.code, linked.stderr).to.equal(0)
  })
  after(() => sandbox.cleanup())

  it('is listed beside the first-party backends, with the plugin it came from, and selected by config', async () => {
    const result = await runEc(['backends', 'list', '--kind', 'transport', '--json'], {env})
    expect(result.code, result.stderr).to.equal(0)
    const listing = parseJson<Listing[]>(result)
    expect(listing.map((b) => [b.name, b.plugin, b.selected, b.configKey])).to.deep.equal([
      ['etcd', '@ec/plugin-etcd', false, 'etcd'],
      ['memkv', 'ec-plugin-memkv', true, 'memkv'],
    ])
  })

  it('contributes a config section with defaults and environment overrides', async () => {
    const plain = parseJson<{values: {memkv: unknown}; sources: Record<string, string>}>(
      await runEc(['config', 'show', '--json'], {env}),
    )
    expect(plain.values.memkv).to.deep.equal({shards: 1})
    expect(plain.sources['memkv.shards']).to.equal('default')
    const fromEnv = parseJson<{values: {memkv: unknown}; sources: Record<string, string>}>(
      await runEc(['config', 'show', '--json'], {env: {...env, EC_MEMKV_SHARDS: '4'}}),
    )
    expect(fromEnv.values.memkv).to.deep.equal({shards: 4})
    expect(fromEnv.sources['memkv.shards']).to.equal('env EC_MEMKV_SHARDS')
  })

  it('has its section validated: a wrong value names the file and the key', async () => {
    const bad = join(sandbox.dir, 'bad.yaml')
    writeFileSync(bad, 'memkv:\n  shards: 0\n')
    const result = await runEc(['config', 'show', '--config', bad], {env})
    expect(result.code).to.equal(3)
    expect(result.stderr.trim()).to.equal(`Error: invalid config key "memkv.shards" in ${bad}: must be >= 1`)
  })

  it('an unknown backend name is reported with every available one and its plugin', async () => {
    const other = join(sandbox.dir, 'other.yaml')
    writeFileSync(other, 'backends:\n  transport: nats\n')
    const result = await runEc(['backends', 'list', '--kind', 'transport', '--config', other], {env})
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stderr.split('\n')).to.include(
      'Warning: unknown transport backend "nats" in backends.transport; available: etcd (from @ec/plugin-etcd), memkv (from ec-plugin-memkv). Install one with "ec plugins install <plugin>"',
    )
  })
})

/** A plugin directory with an ec-backends hook (plain JavaScript, no dependencies). */
function writePlugin(dir: string, name: string, hook: string): string {
  const pluginDir = join(dir, name)
  mkdirSync(pluginDir, {recursive: true})
  writeFileSync(
    join(pluginDir, 'package.json'),
    JSON.stringify({name, version: '1.0.0', type: 'module', files: ['hook.js'], oclif: {hooks: {'ec-backends': './hook.js'}}}),
  )
  writeFileSync(join(pluginDir, 'hook.js'), hook)
  return pluginDir
}

const backendHook = (kind: string, name: string) => `export default async function backends() {
  return [{kind: '${kind}', name: '${name}', description: 'from a test plugin', async create() { throw new Error('not used') }}]
}
`

describe('plugins that misbehave are reported by name and break nothing', function () {
  this.timeout(120_000)
  let sandbox: Sandbox
  before(async () => {
    sandbox = makeSandbox('ec-plugin-bad-')
    const plugins = [
      writePlugin(sandbox.dir, 'ec-plugin-throws', `export default async function backends() { throw new Error('no backends today') }\n`),
      writePlugin(sandbox.dir, 'ec-plugin-exits', `export default async function backends() { this.error('gave up', {exit: 3}) }\n`),
      writePlugin(sandbox.dir, 'ec-plugin-import-fails', `throw new Error('broken at load')\n`),
      writePlugin(sandbox.dir, 'ec-plugin-dup', backendHook('transport', 'etcd')),
    ]
    for (const dir of plugins) {
      const linked = await runEc(['plugins', 'link', dir, '--no-install'], {env: sandbox.env})
      expect(linked.code, linked.stderr).to.equal(0)
    }
  })
  after(() => sandbox.cleanup())

  it('lists every good backend, and warns once per bad plugin, naming it', async () => {
    const result = await runEc(['backends', 'list', '--kind', 'transport', '--json'], {env: sandbox.env})
    expect(result.code, result.stderr).to.equal(0)
    expect(parseJson<Listing[]>(result).map((b) => [b.name, b.plugin])).to.deep.equal([['etcd', '@ec/plugin-etcd']])
    const plain = await runEc(['backends', 'list', '--kind', 'transport'], {env: sandbox.env}) // --json keeps stderr quiet
    expect(plain.code, plain.stderr).to.equal(0)
    const warnings = plain.stderr.split('\n').filter((line) => line.startsWith('Warning:'))
    expect(warnings).to.include.members([
      'Warning: plugin ec-plugin-throws: its ec-backends hook failed: no backends today',
      'Warning: plugin ec-plugin-exits: its ec-backends hook failed: gave up',
      'Warning: plugin ec-plugin-dup: transport backend "etcd" is already provided by @ec/plugin-etcd; ignored',
    ])
    expect(warnings.some((w) => w.startsWith('Warning: plugin ec-plugin-import-fails: ') && w.includes('broken at load')), warnings.join('\n')).to.equal(true)
  })

  it('is reported alike without oclif: ec instance list and create run the hooks themselves', async () => {
    const warnings = (stderr: string) => stderr.split('\n').filter((line) => line.startsWith('Warning:') && !line.includes('ec-plugin-import-fails'))
    for (const command of [['instance', 'list'], ['instance', 'create', 'web1', '--flavor', 'nope']]) {
      const fast = await runEc(command, {env: sandbox.env})
      const slow = await runEc([command.slice(0, 2).join(':'), ...command.slice(2)], {env: sandbox.env})
      expect(fast.code, fast.stderr).to.equal(slow.code)
      expect(warnings(fast.stderr), command.join(' ')).to.deep.equal(warnings(slow.stderr))
      expect(warnings(fast.stderr)).to.have.length(3)
      expect(fast.stderr).to.include('broken at load')
      // Served without oclif: the warnings come once, and oclif is never loaded.
      const probe = await runEc(command, {env: {...sandbox.env, NODE_DEBUG: 'module'}})
      expect(probe.stderr).to.not.include('@oclif/core')
    }
  })

  it('leaves other commands working', async () => {
    const shown = await runEc(['config', 'show', '--json'], {env: sandbox.env})
    expect(shown.code, shown.stderr).to.equal(0)
    expect(parseJson<{values: {backends: {transport: string}}}>(shown).values.backends.transport).to.equal('etcd')
  })
})

describe('ec plugins install from a local tarball or directory', function () {
  this.timeout(300_000)
  let sandbox: Sandbox
  before(() => {
    sandbox = makeSandbox('ec-plugin-local-')
  })
  after(() => sandbox.cleanup())

  async function listed(name: string): Promise<Listing | undefined> {
    const result = await runEc(['backends', 'list', '--json'], {env: sandbox.env})
    expect(result.code, result.stderr).to.equal(0)
    return parseJson<Listing[]>(result).find((b) => b.name === name)
  }

  it('installs ./plugin.tgz (npm pack), lists its backend, and uninstalls it', async () => {
    const dir = writePlugin(join(sandbox.dir, 'src'), 'ec-plugin-tarred', backendHook('metadata', 'tarred'))
    const packed = await runCommand('npm', ['pack', '--pack-destination', sandbox.dir], dir, sandbox.env)
    expect(packed.code, packed.stderr).to.equal(0)
    const installed = await runEc(['plugins', 'install', './ec-plugin-tarred-1.0.0.tgz'], {env: sandbox.env, cwd: sandbox.dir})
    expect(installed.code, installed.stderr).to.equal(0)
    rmSync(join(sandbox.dir, 'ec-plugin-tarred-1.0.0.tgz')) // installed is installed: the original may go
    expect(await listed('tarred')).to.include({kind: 'metadata', plugin: 'ec-plugin-tarred'})
    const removed = await runEc(['plugins', 'uninstall', 'ec-plugin-tarred'], {env: sandbox.env})
    expect(removed.code, removed.stderr).to.equal(0)
    expect(await listed('tarred')).to.equal(undefined)
  })

  it('installs ./dir by packing it', async () => {
    writePlugin(join(sandbox.dir, 'work'), 'ec-plugin-dir', backendHook('metadata', 'from-dir'))
    const installed = await runEc(['plugins', 'install', './work/ec-plugin-dir'], {env: sandbox.env, cwd: sandbox.dir})
    expect(installed.code, installed.stderr).to.equal(0)
    expect(await listed('from-dir')).to.include({kind: 'metadata', plugin: 'ec-plugin-dir'})
    expect((await runEc(['plugins', 'uninstall', 'ec-plugin-dir'], {env: sandbox.env})).code).to.equal(0)
  })

  it('refuses a path that is not there: exit 2, one line that says what to give', async () => {
    const result = await runEc(['plugins', 'install', './nowhere.tgz'], {env: sandbox.env, cwd: sandbox.dir})
    expect(result.code).to.equal(2)
    expect(result.stderr.trim()).to.equal(
      'Error: "./nowhere.tgz" is not a file or directory; give a plugin tarball (made by "npm pack"), a plugin\'s directory, or an npm package name',
    )
  })
})

function runCommand(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{code: number; stderr: string}> {
  return new Promise((done) => {
    execFile(command, args, {cwd, env, timeout: 120_000}, (error, _stdout, stderr) => done({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stderr}))
  })
}
