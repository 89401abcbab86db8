// `ec metadata serve`: the metadata service on its own, over the data
// directory the host's agent publishes into.
import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {MdserverBackend} from '../../plugins/mdserver/src/mdserver.js'
import {resolveMetadataSettings} from '../../plugins/mdserver/src/config.js'
import {EC_BIN, makeSandbox, runEc, type Sandbox} from '../helpers/cli.js'
import {freePorts} from '../helpers/ports.js'

describe('ec metadata serve', function () {
  this.timeout(60_000)
  let sandbox: Sandbox
  beforeEach(() => {
    sandbox = makeSandbox('ec-md-serve-')
  })
  afterEach(() => sandbox.cleanup())

  it("serves what the agent published under <state-dir>/compute, until SIGTERM", async () => {
    const [port] = await freePorts(1)
    const stateDir = join(sandbox.dir, 'state')
    const configFile = join(sandbox.dir, 'ec.config.yaml')
    writeFileSync(configFile, `stateDir: ${stateDir}\nmetadata: {port: ${port}}\n`)
    // Publish as the agent would (same settings, same directory), then stop serving from this process.
    const log = {debug() {}, info() {}, warn() {}}
    const publisher = new MdserverBackend(resolveMetadataSettings({host: '127.0.0.1', port}, join(stateDir, 'compute')), log)
    const published = await publisher.publish({instanceId: crypto.randomUUID(), hostname: 'web1', publicKeys: [], meta: {}})
    await publisher.close()
    const seed = /s=http:\/\/10\.0\.2\.2:\d+(\/[^/]+\/)/.exec(published.smbios!.serial)![1]

    const child = spawn(process.execPath, [EC_BIN, 'metadata', 'serve'], {env: {...sandbox.env, EC_CONFIG: configFile}, stdio: ['ignore', 'pipe', 'pipe']})
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk))
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    try {
      for (let i = 0; i < 100 && !output.includes('listening on'); i++) await new Promise((r) => setTimeout(r, 100))
      expect(output).to.include(`metadata service listening on http://127.0.0.1:${port}`)
      const metaData = await (await fetch(`http://127.0.0.1:${port}${seed}meta-data`)).text()
      expect(metaData).to.include('local-hostname: web1')
    } finally {
      child.kill('SIGTERM')
    }

    expect(await exited).to.equal(0)
  })

  it('says so when the selected metadata backend has no service', async () => {
    const configFile = join(sandbox.dir, 'ec.config.yaml')
    writeFileSync(configFile, `stateDir: ${join(sandbox.dir, 'state')}\nbackends: {metadata: configdrive}\n`)
    const result = await runEc(['metadata', 'serve'], {env: {...sandbox.env, EC_CONFIG: configFile}})
    expect(result.code).to.equal(2)
    expect(result.stderr.trim()).to.equal('Error: the configdrive metadata backend has no service to run; nothing to serve')
  })
})
