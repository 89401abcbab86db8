// A backend contributed by a plugin that is not part of ec: linked in with
// `ec plugins link`, it is found through the ec-backends hook with no change
// to core, and its config section is validated like core's own.
import {expect} from 'chai'
import {mkdirSync, writeFileSync} from 'node:fs'
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
