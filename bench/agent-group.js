#!/usr/bin/env node
// bench/agent-group DIR NAME… : runs several compute agents in one process —
// the ComputeAgent `ec compute start` runs, with the same backends — so that
// bench/schedule can simulate hundreds of hosts: one `ec compute start` process
// per host costs ~130 MB each. Each agent has its own state directory
// (DIR/NAME), provider, etcd and Placement clients, and its own libvirt test
// driver (test:///DIR/NAME/node.xml: state private to that connection, where
// test:///default would be shared by every agent of the process). Settings come
// from the environment bench/schedule passes: EC_BENCH_CREDENTIALS (bundle),
// EC_BENCH_COMPUTE (JSON of compute settings). Prints "NAME is schedulable" per
// agent; on SIGTERM stops them all.
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {benchSchedulerSettings} from './lib.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const [dir, ...names] = process.argv.slice(2)
const credentials = process.env.EC_BENCH_CREDENTIALS
const bundle = JSON.parse(readFileSync(credentials, 'utf8'))
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version

const {coreDefaults} = await import(join(root, 'dist/config/defaults.js'))
const {ComputeAgent} = await import(join(root, 'dist/agent/agent.js'))
const {loadOrCreateIdentity} = await import(join(root, 'dist/agent/host-identity.js'))
const {hostTraits} = await import(join(root, 'dist/agent/host-traits.js'))
const {measuredCapacity} = await import(join(root, 'dist/agent/inventory.js'))
const {EtcdTransport} = await import(join(root, 'plugins/etcd/dist/transport.js'))
const {PlacementScheduler} = await import(join(root, 'plugins/placement/dist/scheduler.js'))
const {LibvirtHypervisor} = await import(join(root, 'plugins/libvirt/dist/hypervisor.js'))

const quiet = {debug() {}, info() {}, warn: (message) => process.stderr.write(`warn ${message}\n`)}
const agents = []
for (const name of names) {
  const hostDir = join(dir, name)
  mkdirSync(hostDir, {recursive: true})
  const nodeXml = join(hostDir, 'node.xml')
  writeFileSync(nodeXml, '<node/>\n')
  const compute = {...coreDefaults().compute, ...JSON.parse(process.env.EC_BENCH_COMPUTE ?? '{}'), hostName: name, numa: 'off'}
  const hypervisor = await LibvirtHypervisor.create({uri: `test://${nodeXml}`}, join(hostDir, 'hypervisor'), quiet)
  const host = await hypervisor.describeHost()
  const agent = new ComputeAgent({
    identity: await loadOrCreateIdentity(hostDir, name),
    compute,
    capacity: measuredCapacity(host.capacity),
    capabilities: host.capabilities,
    log: quiet,
    traits: hostTraits(host, compute.traits),
    previousTraits: [],
    numaNodes: [],
    version,
    backends: {
      transport: new EtcdTransport({endpoints: bundle.etcd.endpoints, prefix: '/ec', timeoutMs: 10_000, tls: {credentials}}),
      scheduler: new PlacementScheduler(benchSchedulerSettings(bundle.placement.urls, credentials, 60_000)),
      hypervisor,
    },
  })
  await agent.start()
  agents.push(agent)
  process.stdout.write(`${name} is schedulable\n`)
}

process.once('SIGTERM', async () => {
  await Promise.all(agents.map((agent) => agent.stop().catch(() => undefined)))
  process.exit(0)
})
