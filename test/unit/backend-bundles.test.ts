// The backend modules of ec's own plugins that commands load, bundled by the
// build (scripts/bundle-backends.mjs): in force after `npm run build`, and
// what the built hooks create backends from. The bundles themselves pass the
// transport and scheduler contracts in plugins/*/test/contract.test.ts.
import {expect} from 'chai'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {bundleInForce, type BackendDescriptor} from '@ec/plugin-api'

import type {EtcdTransport as EtcdTransportClass} from '../../plugins/etcd/src/transport.js'
import type {PlacementScheduler as PlacementSchedulerClass} from '../../plugins/placement/src/scheduler.js'
import {REPO_ROOT} from '../helpers/cli.js'

const bundleOf = (plugin: string, module: string) => pathToFileURL(join(REPO_ROOT, 'plugins', plugin, 'dist', `${module}.bundle.mjs`))
const builtHook = async (plugin: string) =>
  ((await import(pathToFileURL(join(REPO_ROOT, 'plugins', plugin, 'dist', 'hooks', 'backends.js')).href)) as {default: () => Promise<BackendDescriptor[]>}).default()
const context = (section: Record<string, unknown>) => ({section, config: {}, stateDir: '/nonexistent', log: {debug() {}, info() {}, warn() {}}})

describe("ec's own backends, bundled (scripts/bundle-backends.mjs)", () => {
  it('are in force after a build', () => {
    expect(bundleInForce(bundleOf('etcd', 'transport')), 'etcd').to.equal(true)
    expect(bundleInForce(bundleOf('placement', 'scheduler')), 'placement').to.equal(true)
  })

  it('are what the built hooks create their backends from', async () => {
    const {EtcdTransport} = (await import(bundleOf('etcd', 'transport').href)) as {EtcdTransport: typeof EtcdTransportClass}
    const {PlacementScheduler} = (await import(bundleOf('placement', 'scheduler').href)) as {PlacementScheduler: typeof PlacementSchedulerClass}
    const [etcd] = await builtHook('etcd')
    const transport = await etcd.create(context({endpoints: ['http://127.0.0.1:9'], prefix: '/ec', timeoutMs: 1000}))
    const [placement] = await builtHook('placement')
    const scheduler = await placement.create(context({url: 'http://127.0.0.1:9', token: 'admin', projectId: 'p', userId: 'u', policy: 'pack', candidateLimit: 5, claimRounds: 1, timeoutMs: 1000}))
    try {
      expect(transport).to.be.an.instanceOf(EtcdTransport)
      expect(scheduler).to.be.an.instanceOf(PlacementScheduler)
    } finally {
      await Promise.all([transport.close(), scheduler.close()])
    }
  })
})
