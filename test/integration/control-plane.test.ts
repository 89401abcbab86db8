// `ec up` / `ec status` / `ec down` against the real etcd and the real
// Placement they start, each test in its own sandbox on free loopback ports.
import axios from 'axios'
import {expect} from 'chai'
import {existsSync, mkdirSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {join} from 'node:path'

import {EtcdTransport} from '../../plugins/etcd/src/transport.js'
import {makeSandbox, parseJson, runEc, type Sandbox} from '../helpers/cli.js'
import {startControlPlane, type TestControlPlane} from '../helpers/control-plane.js'
import {httpsAgentFor} from '../helpers/credentials.js'
import {freePorts} from '../helpers/ports.js'
import {processesMentioning} from '../helpers/processes.js'

interface StatusJson {
  healthy: boolean
  services: Array<{name: string; state: string; healthy: boolean; pid?: number; version?: string; endpoint: string}>
}

describe('ec up / status / down (real etcd + Placement)', function () {
  this.timeout(120_000)

  describe('a running control plane', () => {
    let cp: TestControlPlane
    before(async () => {
      cp = await startControlPlane()
    })
    after(async () => cp?.stop())

    it('reports both services healthy with endpoint and version', async () => {
      const result = await cp.ec(['status', '--json'])
      expect(result.code, result.stderr).to.equal(0)
      const status = parseJson<StatusJson>(result)
      expect(status.healthy).to.equal(true)
      const [etcd, placement] = status.services
      expect(etcd).to.include({name: 'etcd', state: 'running', healthy: true, endpoint: cp.etcdEndpoint})
      expect(etcd.version).to.match(/^3\.\d+\.\d+$/)
      expect(placement).to.include({name: 'placement', state: 'running', healthy: true, endpoint: cp.placementUrl})
      expect(placement.version).to.match(/^API 1\.0–1\.\d+$/)
    })

    it('serves a real Placement: create and read a resource provider', async () => {
      const headers = {'X-Auth-Token': 'admin', 'OpenStack-API-Version': 'placement 1.39', 'Content-Type': 'application/json'}
      const uuid = crypto.randomUUID()
      const httpsAgent = httpsAgentFor(cp.placementUrl)
      const created = await axios.post(`${cp.placementUrl}/resource_providers`, {name: 'test-host', uuid}, {headers, httpsAgent})
      expect(created.status).to.equal(200)
      const read = await axios.get(`${cp.placementUrl}/resource_providers/${uuid}`, {headers, httpsAgent})
      expect(read.status).to.equal(200)
      expect(read.data).to.include({uuid, name: 'test-host', generation: 0})
    })

    it('serves a real etcd: a put is seen by a watch', async () => {
      const transport = new EtcdTransport({endpoints: [cp.etcdEndpoint], prefix: '/ec-test', timeoutMs: 5000, tls: cp.clientTls})
      try {
        const {revision} = await transport.list('watched/')
        const seen = new Promise<string>((resolve) => {
          void transport.watch('watched/', {
            afterRevision: revision,
            onEvents(events) {
              for (const e of events) if (e.type === 'put') resolve(`${e.kv.key}=${e.kv.value}`)
            },
          })
        })
        await transport.commit([], [{op: 'put', key: 'watched/a', value: 'hello'}])
        expect(await seen).to.equal('watched/a=hello')
      } finally {
        await transport.close()
      }
    })

    it('is idempotent: a second ec up reports what already runs', async () => {
      const before = parseJson<StatusJson>(await cp.ec(['status', '--json']))
      const again = await cp.ec(['up', '--json'])
      expect(again.code, again.stderr).to.equal(0)
      const result = parseJson<{services: Array<{name: string; action: string; pid: number}>}>(again)
      expect(result.services.map((s) => [s.name, s.action, s.pid])).to.deep.equal(
        before.services.map((s) => [s.name, 'already running', s.pid]),
      )
    })

    it('refuses a second control plane on the same ports and leaves nothing behind', async () => {
      const other = join(cp.sandbox.dir, 'other-state')
      const result = await cp.ec(['up', '--state-dir', other])
      expect(result.code).to.equal(9)
      expect(result.stderr).to.match(/^Error: port \d+ on 127\.0\.0\.1 \(etcd client\) is already in use; stop what holds it or set controlPlane\.etcd\.clientPort to a free port$/m)
      expect(existsSync(other)).to.equal(false)
    })
  })

  describe('stopping', () => {
    it('ec down stops both services; status then says stopped and exits 4; --purge deletes data', async () => {
      const cp = await startControlPlane()
      try {
        const pids = parseJson<StatusJson>(await cp.ec(['status', '--json'])).services.map((s) => s.pid!)
        const down = await cp.ec(['down', '--json'])
        expect(down.code, down.stderr).to.equal(0)
        expect(parseJson<{services: Array<{action: string}>}>(down).services.map((s) => s.action)).to.deep.equal([
          'stopped',
          'stopped',
        ])
        expect(processesMentioning(cp.stateDir)).to.deep.equal([])
        expect(pids.every((pid) => !existsSync(`/proc/${pid}/cmdline`) || processesMentioning(cp.stateDir).length === 0)).to.equal(true)
        const status = await cp.ec(['status', '--json'])
        expect(status.code).to.equal(4)
        expect(parseJson<StatusJson>(status).services.map((s) => [s.state, s.healthy])).to.deep.equal([
          ['stopped', false],
          ['stopped', false],
        ])
        expect(existsSync(join(cp.stateDir, 'etcd', 'data'))).to.equal(true)
        const purge = await cp.ec(['down', '--purge'])
        expect(purge.code, purge.stderr).to.equal(0)
        expect(existsSync(join(cp.stateDir, 'etcd'))).to.equal(false)
        expect(existsSync(join(cp.stateDir, 'placement'))).to.equal(false)
      } finally {
        await cp.stop()
      }
    })
  })

  describe('bad input', () => {
    let sandbox: Sandbox
    let env: NodeJS.ProcessEnv
    let stateDir: string
    let ports: number[]
    beforeEach(async () => {
      sandbox = makeSandbox('ec-bad-')
      ports = await freePorts(3)
      stateDir = join(sandbox.dir, 'state')
      const configFile = join(sandbox.dir, 'ec.config.yaml')
      writeFileSync(
        configFile,
        `stateDir: ${stateDir}\ncontrolPlane:\n  startTimeoutSeconds: 30\n  etcd: {clientPort: ${ports[0]}, peerPort: ${ports[1]}}\n  placement: {port: ${ports[2]}}\n`,
      )
      env = {...sandbox.env, EC_CONFIG: configFile}
    })
    afterEach(async () => {
      await runEc(['down', '--purge'], {env})
      const leftovers = processesMentioning(sandbox.dir)
      sandbox.cleanup()
      expect(leftovers, 'processes left running').to.deep.equal([])
    })

    it('an occupied port: exit 9, one line naming the port and the key, nothing started', async () => {
      const squatter = createServer()
      await new Promise<void>((resolve) => squatter.listen({host: '127.0.0.1', port: ports[2]}, resolve))
      try {
        const result = await runEc(['up'], {env})
        expect(result.code).to.equal(9)
        expect(result.stderr.trim()).to.equal(
          `Error: port ${ports[2]} on 127.0.0.1 (Placement API) is already in use; stop what holds it or set controlPlane.placement.port to a free port`,
        )
        expect(processesMentioning(sandbox.dir)).to.deep.equal([])
        expect(existsSync(stateDir)).to.equal(false)
      } finally {
        squatter.close()
      }
    })

    it('a service that fails to start: exit 10, its log tail, and what started before it is stopped', async () => {
      mkdirSync(join(stateDir, 'placement'), {recursive: true})
      writeFileSync(join(stateDir, 'placement', 'placement.sqlite'), 'this is not a sqlite database\n'.repeat(20))
      const result = await runEc(['up'], {env})
      expect(result.code).to.equal(10)
      const [first, ...logTail] = result.stderr.trim().split('\n')
      expect(first).to.equal(
        `Error: placement exited during start-up; its log is ${join(stateDir, 'placement', 'placement.log')}`,
      )
      expect(logTail.join('\n')).to.include('file is not a database')
      expect(processesMentioning(sandbox.dir), 'etcd was started first and must be stopped').to.deep.equal([])
      expect(existsSync(join(stateDir, 'etcd', 'etcd.pid'))).to.equal(false)
    })

    it('a stale pid file and socket: status says stale (exit 4), up removes them and starts', async () => {
      mkdirSync(join(stateDir, 'etcd'), {recursive: true})
      writeFileSync(join(stateDir, 'etcd', 'etcd.pid'), `${process.pid}\n`) // alive, but not etcd
      // What an etcd killed with -9 leaves of its unix socket: etcd will not bind over any file there.
      writeFileSync(join(stateDir, 'etcd', 'client.sock:0'), '')
      const status = await runEc(['status', '--json'], {env})
      expect(status.code).to.equal(4)
      expect(parseJson<StatusJson>(status).services[0]).to.include({name: 'etcd', state: 'stale', healthy: false})
      const up = await runEc(['up'], {env})
      expect(up.code, up.stderr).to.equal(0)
      expect(up.stderr).to.include(
        `Note: removed stale pid file ${join(stateDir, 'etcd', 'etcd.pid')} (pid ${process.pid} is not running)`,
      )
      expect((await runEc(['status'], {env})).code).to.equal(0)
    })

    it('a state directory that cannot be written: exit 9, one line', async () => {
      const file = join(sandbox.dir, 'a-file')
      writeFileSync(file, '')
      const result = await runEc(['up', '--state-dir', join(file, 'ec')], {env})
      expect(result.code).to.equal(9)
      expect(result.stderr.trim()).to.equal(
        `Error: state directory ${join(file, 'ec')} is not writable (ENOTDIR); choose another with --state-dir or fix its permissions`,
      )
    })

    it('a missing binary: exit 8, naming the Debian package', async () => {
      const result = await runEc(['up'], {env: {...env, PATH: join(sandbox.dir, 'empty-bin')}})
      expect(result.code).to.equal(8)
      expect(result.stderr.trim()).to.equal(
        "Error: etcd is not installed; install Debian's etcd-server package (scripts/install-system-deps.sh installs everything ec needs)",
      )
      expect(existsSync(stateDir)).to.equal(false)
    })

    it('malformed config: exit 3, one line naming the file', async () => {
      writeFileSync(env.EC_CONFIG!, 'controlPlane:\n  etcd: {clientPort: "two"}\n')
      const result = await runEc(['up'], {env})
      expect(result.code).to.equal(3)
      expect(result.stderr.trim()).to.equal(
        `Error: invalid config key "controlPlane.etcd.clientPort" in ${env.EC_CONFIG}: must be integer`,
      )
    })

    it('ec down where nothing ever ran: exit 0, both not running, no directory created', async () => {
      const result = await runEc(['down', '--json'], {env})
      expect(result.code, result.stderr).to.equal(0)
      expect(parseJson<{services: Array<{action: string}>}>(result).services.map((s) => s.action)).to.deep.equal(['not running', 'not running'])
      expect(existsSync(stateDir)).to.equal(false)
    })

    it('two services on one port: exit 3', async () => {
      writeFileSync(env.EC_CONFIG!, `stateDir: ${stateDir}\ncontrolPlane:\n  etcd: {clientPort: ${ports[0]}, peerPort: ${ports[0]}}\n`)
      const result = await runEc(['up'], {env})
      expect(result.code).to.equal(3)
      expect(result.stderr.trim()).to.equal(
        `Error: controlPlane.etcd.peerPort and controlPlane.etcd.clientPort are both ${ports[0]}; give each service its own port`,
      )
    })
  })
})
