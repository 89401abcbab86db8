// The fast path's own decisions (src/startup/): which invocations it serves
// and which it leaves to oclif, and the backend hooks it finds without oclif.
import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'

import etcdBackends from '../../plugins/etcd/src/hooks/backends.js'

import {bundledHooksInForce, type BundledHooks, backendHooks, runBackendHooks} from '../../src/startup/backend-hooks.js'
import {parseCreateFlags} from '../../src/startup/instance-create.js'
import {parseListFlags} from '../../src/startup/instance-list.js'
import {REPO_ROOT} from '../helpers/cli.js'

describe('ec instance list fast path', () => {
  it('serves the flags of the oclif command, in both spellings', () => {
    expect(parseListFlags([])).to.deep.equal({})
    expect(parseListFlags(['--json', '--host', 'h1', '--state=ERROR', '-q', '--columns', 'name,id', '--sort=-created', '--config', 'c.yaml', '--credentials=b.json'])).to.deep.equal({
      json: true,
      host: 'h1',
      state: 'ERROR',
      quiet: true,
      columns: 'name,id',
      sort: '-created',
      config: 'c.yaml',
      credentials: 'b.json',
    })
  })

  it('leaves to oclif whatever oclif would refuse or treat otherwise', () => {
    for (const args of [
      ['--help'],
      ['-h'],
      ['--bogus'],
      ['extra'],
      ['--host'],
      ['--host', ''],
      ['--state', 'SLEEPING'],
      ['--json', '--json'],
      ['--host', 'a', '--host', 'b'],
      ['--json=true'],
      ['--', '--json'],
    ]) {
      expect(parseListFlags(args), args.join(' ')).to.equal(undefined)
    }
  })

  it("finds the ec-backends hooks of ec's own plugins and of those the user installed or linked, and none where only oclif can tell", () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ec-fast-'))
    const plugin = (dir: string, pjson: object) => {
      mkdirSync(dir, {recursive: true})
      writeFileSync(join(dir, 'package.json'), JSON.stringify(pjson))
      return dir
    }

    const userList = (plugins: unknown[]) => writeFileSync(join(dataDir, 'package.json'), JSON.stringify({private: true, oclif: {schema: 1, plugins}}))
    try {
      const hooks = backendHooks(REPO_ROOT, dataDir)
      expect(hooks?.map((h) => h.plugin).sort()).to.deep.equal(['@ec/plugin-etcd', '@ec/plugin-libvirt', '@ec/plugin-mdserver', '@ec/plugin-placement'])
      for (const hook of hooks!) expect(hook.file).to.match(/\/plugins\/[a-z]+\/dist\/hooks\/backends\.js$/)
      expect(new Set(hooks!.map((h) => h.type))).to.deep.equal(new Set(['core']))
      // An empty plugin list (after `ec plugins uninstall`) changes nothing.
      userList([])
      expect(backendHooks(REPO_ROOT, dataDir)).to.have.length(4)
      // One installed (under <data>/node_modules) and one linked: their hooks come too, typed as oclif types them.
      plugin(join(dataDir, 'node_modules', 'ec-plugin-consul'), {name: 'ec-plugin-consul', oclif: {hooks: {'ec-backends': './hook.js'}}})
      const linked = plugin(join(dataDir, 'src', 'ec-plugin-qemu'), {name: 'ec-plugin-qemu', oclif: {hooks: {'ec-backends': ['./a.js', './b.js']}}})
      userList([{name: 'ec-plugin-consul', type: 'user'}, {name: 'ec-plugin-qemu', type: 'link', root: linked}, 'ignored-by-oclif'])
      const mine = backendHooks(REPO_ROOT, dataDir)?.filter((h) => h.type !== 'core')
      expect(mine).to.deep.equal([
        {plugin: 'ec-plugin-consul', type: 'user', file: join(realpathSync(dataDir), 'node_modules', 'ec-plugin-consul', 'hook.js')},
        {plugin: 'ec-plugin-qemu', type: 'link', file: join(linked, 'a.js')},
        {plugin: 'ec-plugin-qemu', type: 'link', file: join(linked, 'b.js')},
      ])
      // Only oclif can tell: a plugin not there, one that replaces a core plugin, one with commands or plugins of its own, a list it cannot read.
      for (const list of [
        [{name: 'ec-plugin-gone', type: 'user'}],
        [{name: '@ec/plugin-etcd', type: 'link', root: linked}],
        [{name: 'ec-plugin-cmds', type: 'link', root: plugin(join(dataDir, 'cmds'), {name: 'ec-plugin-cmds', oclif: {commands: './dist/commands'}})}],
        [{name: 'ec-plugin-nest', type: 'link', root: plugin(join(dataDir, 'nest'), {name: 'ec-plugin-nest', oclif: {plugins: ['x']}})}],
      ]) {
        userList(list)
        expect(backendHooks(REPO_ROOT, dataDir), JSON.stringify(list)).to.equal(undefined)
      }

      writeFileSync(join(dataDir, 'package.json'), '{not json')
      expect(backendHooks(REPO_ROOT, dataDir)).to.equal(undefined)
    } finally {
      rmSync(dataDir, {recursive: true, force: true})
    }
  })

  it("gives a user's hook what oclif's context would: error() fails it, config names ec's directories", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ec-hook-'))
    try {
      writeFileSync(join(dir, 'fails.mjs'), "export default async function () { this.error('gave up') }\n")
      writeFileSync(join(dir, 'reads.mjs'), "export default async function (options) { return [this.config.dataDir, options.config.version] }\n")
      const config = {root: REPO_ROOT, name: 'ec', bin: 'ec', version: '9.9.9', dataDir: '/data', cacheDir: '/cache'}
      const answers = await runBackendHooks(
        [
          {plugin: 'fails', type: 'link', file: join(dir, 'fails.mjs')},
          {plugin: 'reads', type: 'user', file: join(dir, 'reads.mjs')},
        ],
        undefined,
        undefined,
        config,
      )
      expect(answers.failures.map((f) => [f.plugin, f.error.message])).to.deep.equal([[{name: 'fails', type: 'link'}, 'gave up']])
      expect(answers.successes).to.deep.equal([{plugin: {name: 'reads', type: 'user'}, result: ['/data', '9.9.9']}])
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})

describe("ec's own plugins' hooks, bundled with the list (scripts/bundle-startup.mjs)", () => {
  let dataDir: string
  before(() => (dataDir = mkdtempSync(join(tmpdir(), 'ec-fast-'))))
  after(() => rmSync(dataDir, {recursive: true, force: true}))
  const backendNames = (answers: Awaited<ReturnType<typeof runBackendHooks>>) =>
    answers.successes.flatMap(({result}) => (result as Array<{kind: string; name: string}>).map((d) => `${d.kind}/${d.name}`)).sort()

  it('holds every first-party hook, in force after a build, answering as the hook files do', async () => {
    const bundle = createRequire(import.meta.url)(join(REPO_ROOT, 'dist', 'startup', 'instance-list.bundle.cjs')) as {bundledHooks: BundledHooks}
    const hooks = backendHooks(REPO_ROOT, dataDir)!
    const inForce = bundledHooksInForce(REPO_ROOT, bundle.bundledHooks)
    expect(Object.keys(inForce ?? {}).sort()).to.deep.equal(hooks.map((h) => relative(REPO_ROOT, h.file)).sort())
    const fromBundle = await runBackendHooks(hooks, REPO_ROOT, inForce)
    const fromFiles = await runBackendHooks(hooks)
    expect(fromBundle.failures).to.deep.equal([])
    expect(backendNames(fromBundle)).to.deep.equal(backendNames(fromFiles))
    expect(backendNames(fromBundle)).to.include('transport/etcd')
  })

  it('runs a bundled hook instead of importing its file, and imports the others', async () => {
    const hooks = backendHooks(REPO_ROOT, dataDir)!
    const etcd = hooks.find((h) => h.plugin === '@ec/plugin-etcd')!
    const stand = async () => [{kind: 'transport', name: 'bundled-etcd'}]
    const answers = await runBackendHooks(hooks, REPO_ROOT, {[relative(REPO_ROOT, etcd.file)]: stand})
    expect(backendNames(answers)).to.include('transport/bundled-etcd').and.not.include('transport/etcd')
    expect(backendNames(answers)).to.include('scheduler/placement')
  })

  it('is out of force once any file it was built from holds something else, or is gone', () => {
    const root = mkdtempSync(join(tmpdir(), 'ec-fast-root-'))
    try {
      mkdirSync(join(root, 'plugins', 'x', 'dist'), {recursive: true})
      const file = join(root, 'plugins', 'x', 'dist', 'config.js')
      writeFileSync(file, 'export const a = 1\n')
      const hooks = {'plugins/x/dist/hooks/backends.js': () => []}
      const bundled = {hooks, inputs: {'plugins/x/dist/config.js': createHash('sha256').update('export const a = 1\n').digest('hex')}}
      expect(bundledHooksInForce(root, bundled)).to.equal(hooks)
      expect(bundledHooksInForce(root, undefined)).to.equal(undefined)
      // Rewritten with the same contents (a rebuild, a fresh install): still in force.
      writeFileSync(file, 'export const a = 1\n')
      expect(bundledHooksInForce(root, bundled)).to.equal(hooks)
      writeFileSync(file, 'export const a = 2\n')
      expect(bundledHooksInForce(root, bundled), 'changed').to.equal(undefined)
      rmSync(file)
      expect(bundledHooksInForce(root, bundled), 'gone').to.equal(undefined)
    } finally {
      rmSync(root, {recursive: true, force: true})
    }
  })
})

describe('the etcd backend: HTTP/2 only for short-lived commands', () => {
  const section = {endpoints: ['http://127.0.0.1:9'], prefix: '/ec', timeoutMs: 1000}
  const open = async (context: {shortLived?: boolean; section?: Record<string, unknown>}) => {
    const [descriptor] = await etcdBackends()
    return descriptor.create({section, config: {}, stateDir: '/nonexistent', log: {debug() {}, info() {}, warn() {}}, ...context})
  }

  it('gives agents, ec up and every other command the gRPC transport', async () => {
    const transport = await open({})
    try {
      expect(transport.constructor.name).to.equal('EtcdTransport')
    } finally {
      await transport.close()
    }
  })

  it('gives a short-lived command the HTTP/2 transport, unless etcd wants a user and password', async () => {
    const quick = await open({shortLived: true})
    const withAuth = await open({shortLived: true, section: {...section, username: 'u', password: 'p'}})
    try {
      expect(quick.constructor.name).to.equal('EtcdCliTransport')
      expect(withAuth.constructor.name).to.equal('EtcdTransport')
    } finally {
      await Promise.all([quick.close(), withAuth.close()])
    }
  })
})

describe('ec instance create fast path', () => {
  it('serves one name and the flags it takes, in both spellings, amounts checked as oclif checks them', () => {
    expect(parseCreateFlags(['web1', '--vcpus', '2', '--memory=512', '--disk', '10', '--image', 'debian', '--json'])).to.deep.equal({
      name: 'web1',
      vcpus: 2,
      memory: 512,
      disk: 10,
      image: 'debian',
      json: true,
      policy: undefined,
      wait: undefined,
    })
    const many = parseCreateFlags(['--flavor', 'small', '--trait', 'A', '--trait=B', '-p', '8080:80', '--publish', '0:22', '--meta', 'k=v', '--no-wait', '--policy', 'spread', '--group', 'g'])
    expect(many).to.include({flavor: 'small', name: undefined, wait: false, json: false, policy: 'spread', group: 'g'})
    expect(many?.trait).to.deep.equal(['A', 'B'])
    expect(many?.publish).to.deep.equal(['8080:80', '0:22'])
    expect(parseCreateFlags(['--wait'])?.wait).to.equal(true)
  })

  it('leaves to oclif whatever oclif would refuse or treat otherwise', () => {
    for (const args of [
      ['--help'],
      ['-h'],
      ['--dry-run'],
      ['--disk-strategy', 'copy'],
      ['resources=VCPU:1'],
      ['web1', 'resources=VCPU:1'],
      ['web1', 'web2'],
      ['--image'],
      ['--image', ''],
      ['--image', 'a', '--image', 'b'],
      ['--vcpus', '0'],
      ['--vcpus', '2.5'],
      ['--memory', '99999999999'],
      ['--policy', 'random'],
      ['--wait', '--no-wait'],
      ['--json=true'],
      ['--', '--json'],
    ]) {
      expect(parseCreateFlags(args), args.join(' ')).to.equal(undefined)
    }
  })
})
