// The README's main job, twice in a row: scripts/demo.sh on libvirt's test
// driver must succeed both times and leave no process of its own behind (the
// compute agent, its metadata server, etcd, gunicorn/Placement). Takes about
// a minute per run on an idle 2-core machine, several on a loaded one (the
// test image is built once).
import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {readdirSync} from 'node:fs'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {makeSandbox, REPO_ROOT, type Sandbox} from '../helpers/cli.js'
import {processesReferring} from '../helpers/processes.js'

const RUN_TIMEOUT_MS = 600_000

function runDemo(env: NodeJS.ProcessEnv): Promise<{code: number | null; output: string}> {
  return new Promise((resolve) => {
    const child = spawn('bash', [join(REPO_ROOT, 'scripts', 'demo.sh')], {env, stdio: ['ignore', 'pipe', 'pipe']})
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    // Past the deadline, TERM lets the script's own cleanup run.
    const timer = setTimeout(() => child.kill('SIGTERM'), RUN_TIMEOUT_MS)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({code, output})
    })
  })
}

describe('the main job (scripts/demo.sh on test:///default), twice in a row', function () {
  this.timeout(2 * RUN_TIMEOUT_MS + 60_000)
  let sandbox: Sandbox

  before(() => {
    sandbox = makeSandbox('ec-demo-test-')
  })

  after(async () => {
    // Whatever a failed run left: stop it by pid, so one failure stays one failure.
    for (const {pid} of processesReferring(sandbox.dir)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }

    sandbox.cleanup()
  })

  /** The demo's processes, polled until none is left or the deadline passes. */
  async function leftovers(timeoutMs = 15_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const left = processesReferring(sandbox.dir).map((p) => `${p.pid} ${p.cmdline}`)
      if (left.length === 0 || Date.now() > deadline) return left
      await sleep(200)
    }
  }

  it('succeeds both times and leaves no agent, metadata server, etcd or Placement behind', async () => {
    const env = {...sandbox.env, TMPDIR: sandbox.dir, EC_DEMO_LIBVIRT_URI: 'test:///default'}
    for (const run of [1, 2]) {
      const {code, output} = await runDemo(env)
      expect(code, `run ${run}:\n${output}`).to.equal(0)
      expect(output, `run ${run}`).to.include('demo finished')
      expect(output, `run ${run}`).to.match(/web1 .* is ACTIVE on demo-host/)
      expect(await leftovers(), `processes of run ${run}`).to.deep.equal([])
      expect(readdirSync(sandbox.dir).filter((name) => name.startsWith('ec-demo.')), `work directory of run ${run}`).to.deep.equal([])
    }
  })
})
