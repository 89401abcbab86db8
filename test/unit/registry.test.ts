import {expect} from 'chai'

import type {BackendDescriptor, ConfigSection} from '@ec/plugin-api'
import {BackendRegistry, type HookAnswers} from '../../src/plugins/registry.js'

function descriptor(kind: BackendDescriptor['kind'], name: string, config?: ConfigSection): BackendDescriptor {
  return {
    kind,
    name,
    description: `${name} ${kind}`,
    config,
    async create() {
      return {name} as never
    },
  }
}

function answers(...plugins: Array<[string, unknown]>): HookAnswers {
  return {successes: plugins.map(([name, result]) => ({plugin: {name}, result})), failures: []}
}

const section = (key: string): ConfigSection => ({key, schema: {type: 'object'}, defaults: () => ({})})

describe('backend registry', () => {
  it('collects backends from every plugin and remembers where each came from', () => {
    const registry = BackendRegistry.fromHookAnswers(
      answers(['@ec/plugin-etcd', [descriptor('transport', 'etcd')]], ['ec-plugin-nats', [descriptor('transport', 'nats')]]),
    )
    expect(registry.list('transport').map((b) => [b.descriptor.name, b.plugin])).to.deep.equal([
      ['etcd', '@ec/plugin-etcd'],
      ['nats', 'ec-plugin-nats'],
    ])
    expect(registry.pick('transport', 'nats').plugin).to.equal('ec-plugin-nats')
    expect(registry.problems).to.deep.equal([])
  })

  it('fails an unknown name with the backends available for that kind and their plugins', () => {
    const registry = BackendRegistry.fromHookAnswers(
      answers(['@ec/plugin-etcd', [descriptor('transport', 'etcd'), descriptor('scheduler', 'placement')]]),
    )
    expect(() => registry.pick('transport', 'consul'))
      .to.throw('unknown transport backend "consul" in backends.transport; available: etcd (from @ec/plugin-etcd)')
      .with.property('reason', 'config')
    expect(() => registry.pick('hypervisor', 'libvirt')).to.throw(
      'unknown hypervisor backend "libvirt" in backends.hypervisor; no plugin provides one',
    )
  })

  it('keeps the first of two plugins that claim the same kind and name, and says so', () => {
    const registry = BackendRegistry.fromHookAnswers(
      answers(['a', [descriptor('transport', 'etcd')]], ['b', [descriptor('transport', 'etcd')]]),
    )
    expect(registry.list().map((b) => b.plugin)).to.deep.equal(['a'])
    expect(registry.problems).to.deep.equal(['plugin b: transport backend "etcd" is already provided by a; ignored'])
  })

  it('reports failed hooks in the same order whichever fails first: ec\'s own plugins, then by name', () => {
    const failed = (name: string, type: string) => ({plugin: {name, type}, error: new Error(`${name} broke`)})
    const registry = BackendRegistry.fromHookAnswers({
      successes: [],
      failures: [failed('ec-plugin-b', 'link'), failed('ec-plugin-c', 'user'), failed('ec-plugin-a', 'link'), failed('@ec/plugin-x', 'core')],
    })
    expect(registry.problems).to.deep.equal(
      ['@ec/plugin-x', 'ec-plugin-c', 'ec-plugin-a', 'ec-plugin-b'].map((name) => `plugin ${name}: its ec-backends hook failed: ${name} broke`),
    )
  })

  it("keeps a first-party backend's name whichever hook answers first: ec's own plugins, then by name", () => {
    const registry = BackendRegistry.fromHookAnswers({
      successes: [
        {plugin: {name: 'ec-plugin-z', type: 'link'}, result: [descriptor('transport', 'etcd')]},
        {plugin: {name: 'ec-plugin-b', type: 'user'}, result: [descriptor('transport', 'nats')]},
        {plugin: {name: 'ec-plugin-a', type: 'user'}, result: [descriptor('transport', 'nats')]},
        {plugin: {name: '@ec/plugin-etcd', type: 'core'}, result: [descriptor('transport', 'etcd')]},
      ],
      failures: [],
    })
    expect(registry.list().map((b) => [b.descriptor.name, b.plugin])).to.deep.equal([
      ['etcd', '@ec/plugin-etcd'],
      ['nats', 'ec-plugin-a'],
    ])
    expect(registry.problems).to.deep.equal([
      'plugin ec-plugin-b: transport backend "nats" is already provided by ec-plugin-a; ignored',
      'plugin ec-plugin-z: transport backend "etcd" is already provided by @ec/plugin-etcd; ignored',
    ])
  })

  it('skips malformed descriptors and failed hooks with a problem each', () => {
    const registry = BackendRegistry.fromHookAnswers({
      successes: [
        {plugin: {name: 'p1'}, result: [{kind: 'storage', name: 'x', create() {}}]},
        {plugin: {name: 'p2'}, result: [{kind: 'transport', name: 'Bad Name', create() {}}]},
        {plugin: {name: 'p3'}, result: [{kind: 'transport', name: 'ok'}]},
        {plugin: {name: 'p4'}, result: 'not a list'},
        {plugin: {name: 'p5'}, result: undefined},
      ],
      failures: [{plugin: {name: 'p6'}, error: new Error('boom')}],
    })
    expect(registry.list()).to.have.length(0)
    expect(registry.problems).to.deep.equal([
      'plugin p6: its ec-backends hook failed: boom',
      'plugin p1: backend "x" has kind "storage"; expected one of scheduler, transport, hypervisor, metadata',
      'plugin p2: backend name "Bad Name" must be lower-case letters, digits and dashes',
      'plugin p3: backend "ok" has no create() function',
      'plugin p4: its ec-backends hook must return an array of backends',
    ])
  })

  it('gives each config section one owner; one plugin may share a section between its backends', () => {
    const shared = section('md')
    const registry = BackendRegistry.fromHookAnswers(
      answers(
        ['md-plugin', [descriptor('metadata', 'http', shared), descriptor('metadata', 'drive', shared)]],
        ['other', [descriptor('transport', 'kv', section('md'))]],
      ),
    )
    expect(registry.configSections().map((s) => [s.section.key, s.plugin])).to.deep.equal([['md', 'md-plugin']])
    expect(registry.list()).to.have.length(3)
    expect(registry.problems).to.deep.equal(['plugin other: config section "md" is already owned by md-plugin; ignored'])
  })
})
