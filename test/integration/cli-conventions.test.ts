// The CLI's conventions through real runs of ./bin/run.js against a real
// control plane (etcd, Placement) and one agent on libvirt's test driver:
// object completion in bash and zsh (a real zsh in a pseudo-terminal), `instance watch --json`, --columns/--sort/-q,
// NO_COLOR, and delete's parsed arguments. About 1-2 minutes on a loaded
// 2-core machine, most of it `ec up` and the agent's start.
import {expect} from 'chai'
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {startAgent, type RunningAgent} from '../helpers/agent.js'
import {EC_BIN, REPO_ROOT, runEc} from '../helpers/cli.js'
import {startControlPlane, type TestControlPlane} from '../helpers/control-plane.js'
import {makeQcow2} from '../helpers/image-server.js'
import {freePorts} from '../helpers/ports.js'

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = probe()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

describe('CLI conventions (real control plane, agent on test:///default)', function () {
  this.timeout(240_000)
  let cp: TestControlPlane
  let agent: RunningAgent | undefined
  let imageDir: string
  let binDir: string
  const children: ChildProcess[] = []
  const ec = (args: string[], env: NodeJS.ProcessEnv = cp.env) => runEc(args, {env, cwd: cp.sandbox.dir})
  const create = async (name: string) => {
    const result = await ec(['instance', 'create', name, '--flavor', 'one', '--image', 'base', '--wait'])
    expect(result.code, result.stderr).to.equal(0)
  }

  before(async () => {
    imageDir = mkdtempSync(join(tmpdir(), 'ec-cli-images-'))
    const base = makeQcow2(imageDir)
    cp = await startControlPlane(
      [
        'backends: {metadata: none}',
        'libvirt: {uri: "test:///default"}',
        'compute: {leaseTtlSeconds: 3, shutdownGraceSeconds: 5, inventory: {VCPU: 8, MEMORY_MB: 4096, DISK_GB: 50}, reserved: {MEMORY_MB: 0}}',
        'flavors: {one: {vcpus: 1, memoryMb: 128, diskGb: 1}}',
        `images: {base: {path: ${base}}, other: {path: ${base}}}`,
      ].join('\n'),
    )
    agent = await startAgent(cp.env, 'host-a', join(cp.sandbox.dir, 'agent-a'))
    // `ec` on PATH, as the completion functions call it.
    binDir = join(cp.sandbox.dir, 'bin')
    mkdirSync(binDir)
    writeFileSync(join(binDir, 'ec'), `#!/bin/sh\nexec "${process.execPath}" "${EC_BIN}" "$@"\n`)
    chmodSync(join(binDir, 'ec'), 0o755)
    await create('alpha')
    await create('beta')
  })

  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
    await agent?.stop('SIGKILL')
    await cp?.stop()
    rmSync(imageDir, {recursive: true, force: true})
  })

  /** What bash completes at `ec WORDS…<TAB>` with the functions `ec autocomplete bash` wrote. */
  function bashComplete(words: string[], env: NodeJS.ProcessEnv): string[] {
    const script = join(env.XDG_CACHE_HOME!, 'ec', 'autocomplete', 'functions', 'bash', 'ec.bash')
    const quoted = ['ec', ...words].map((w) => `'${w}'`).join(' ')
    const out = execFileSync(
      'bash',
      ['-c', `source '${script}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length}; _ec_objects; printf '%s\\n' "\${COMPREPLY[@]}"`],
      {env: {...env, PATH: `${binDir}:${env.PATH}`}, encoding: 'utf8', timeout: 60_000},
    )
    return out.split('\n').filter(Boolean).sort()
  }

  it('completes instance, host and image names in bash, and commands as before', async () => {
    const setup = await ec(['autocomplete', 'bash'])
    expect(setup.code, setup.stderr).to.equal(0)
    expect(bashComplete(['instance', 'show', ''], cp.env)).to.deep.equal(['alpha', 'beta'])
    expect(bashComplete(['instance', 'delete', 'al'], cp.env)).to.deep.equal(['alpha'])
    expect(bashComplete(['instance', 'list', '--host', ''], cp.env)).to.deep.equal(['host-a'])
    expect(bashComplete(['instance', 'create', 'x', '--image', ''], cp.env)).to.deep.equal(['base', 'other'])
    expect(bashComplete(['instance', 'sh'], cp.env)).to.deep.equal(['show'])
  })

  /** What a real zsh offers at `LINE<TAB>`, for each line typed in turn into one interactive shell (test/helpers/zsh-complete.zsh). */
  function zshComplete(lines: string[], env: NodeJS.ProcessEnv): string[][] {
    const setup = join(env.HOME!, 'zsh-setup')
    writeFileSync(setup, execFileSync(process.execPath, [EC_BIN, 'autocomplete', 'script', 'zsh'], {env, encoding: 'utf8'}))
    const out = execFileSync('zsh', ['-f', join(REPO_ROOT, 'test', 'helpers', 'zsh-complete.zsh'), setup, ...lines], {
      env: {...env, PATH: `${binDir}:${env.PATH}`, ZSH_COMPLETE_TIMEOUT: '200'},
      encoding: 'utf8',
      timeout: 220_000,
    })
    const offered = out.split('\n').filter(Boolean).map((l) => l.split('\t'))
    // A set: zsh lists a match once, however often it was added (the first TAB, which autoloads the function file, adds them twice).
    return lines.map((line) => [...new Set(offered.filter(([typed, candidate]) => typed === line && candidate).map(([, candidate]) => candidate))].sort())
  }

  it('completes instance, host and image names in zsh, on every TAB, and commands as before', async () => {
    const setup = await ec(['autocomplete', 'zsh'])
    expect(setup.code, setup.stderr).to.equal(0)
    const lines = [
      'ec instance show ',
      'ec instance delete al',
      'ec instance list --host ',
      'ec instance create x --image ',
      'ec instance sh',
      // zsh autoloads the function file once: later TABs must still reach ec's names.
      'ec instance show ',
    ]
    expect(zshComplete(lines, cp.env)).to.deep.equal([['alpha', 'beta'], ['alpha'], ['host-a'], ['base', 'other'], ['show'], ['alpha', 'beta']])
  })

  it('answers completion promptly from nothing or the last names when etcd is dead', async () => {
    const [deadPort] = await freePorts(1)
    const dead = {...cp.env, EC_ETCD_ENDPOINTS: `http://127.0.0.1:${deadPort}`}
    // The same start-up without any network, measured now, is the baseline.
    let started = Date.now()
    const offline = await ec(['complete', 'image'], dead)
    const baselineMs = Date.now() - started
    expect(offline.stdout.split('\n').filter(Boolean)).to.deep.equal(['base', 'other'])
    started = Date.now()
    const first = await ec(['complete', 'instance'], dead)
    const firstMs = Date.now() - started
    expect(first.code, first.stderr).to.equal(0)
    expect(first.stdout).to.equal('')
    expect(firstMs - baselineMs, `dead etcd took ${firstMs} ms against ${baselineMs} ms without network`).to.be.below(4000)
    // The failure is remembered: the next TAB does not wait on etcd again.
    started = Date.now()
    await ec(['complete', 'instance'], dead)
    const secondMs = Date.now() - started
    expect(secondMs - baselineMs, `second try took ${secondMs} ms against ${baselineMs} ms`).to.be.below(1500)
  })

  it('watch --json streams the create and the delete another process makes, until interrupted', async () => {
    const watcher = spawn(process.execPath, [EC_BIN, 'instance', 'watch', 'gamma', '--json'], {env: cp.env, cwd: cp.sandbox.dir})
    children.push(watcher)
    let stdout = ''
    let stderr = ''
    watcher.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    watcher.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const exited = new Promise<number | null>((resolve) => watcher.once('exit', (code) => resolve(code)))
    const lines = () => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
    // The warning comes after the first listing: from then on nothing is missed.
    await waitFor('the watch to start', () => stderr.includes('no instance gamma yet'))
    await create('gamma')
    await waitFor('gamma ACTIVE in the stream', () => lines().some((l) => l.state === 'ACTIVE'))
    const deleted = await ec(['instance', 'delete', 'gamma'])
    expect(deleted.code, deleted.stderr).to.equal(0)
    await waitFor('gamma deleted in the stream', () => lines().some((l) => l.event === 'deleted'))
    watcher.kill('SIGINT')
    expect(await exited).to.equal(0)

    const events = lines()
    expect(events.every((e) => e.name === 'gamma'), stdout).to.equal(true) // alpha and beta are filtered out
    expect(events[0]).to.include({event: 'created', name: 'gamma'})
    const states = events.map((e) => e.state).filter(Boolean)
    expect(states).to.include.members(['PENDING', 'SCHEDULED', 'BUILDING', 'ACTIVE'])
    expect(states.indexOf('ACTIVE')).to.be.greaterThan(states.indexOf('BUILDING'))
    expect(events.at(-1)).to.include({event: 'deleted', name: 'gamma'})
    expect(events.some((e) => e.event === 'changed' && e.state === 'BUILDING' && e.step !== undefined)).to.equal(true)
    for (const e of events) expect(Date.parse(String(e.at))).to.be.a('number').and.not.NaN
  })

  it('shapes tables with --columns and --sort, prints ids with -q, refuses unknown columns', async () => {
    const table = await ec(['instance', 'list', '--columns', 'name,state,host', '--sort=-name'])
    expect(table.code, table.stderr).to.equal(0)
    const rows = table.stdout.trim().split('\n').map((l) => l.split(/\s{2,}/))
    expect(rows).to.deep.equal([
      ['NAME', 'STATE', 'HOST'],
      ['beta', 'ACTIVE', 'host-a'],
      ['alpha', 'ACTIVE', 'host-a'],
    ])
    const json = JSON.parse((await ec(['instance', 'list', '--json', '--sort', 'name'])).stdout) as Array<{id: string; name: string}>
    expect(json.map((r) => r.name)).to.deep.equal(['alpha', 'beta'])
    const quiet = await ec(['instance', 'list', '-q', '--sort', 'name'])
    expect(quiet.stdout.trim().split('\n')).to.deep.equal(json.map((r) => r.id))
    const hosts = await ec(['host', 'list', '--quiet'])
    expect(hosts.stdout.trim()).to.equal('host-a')

    const bad = await ec(['instance', 'list', '--columns', 'name,colour'])
    expect(bad.code).to.equal(2)
    expect(bad.stderr.trim().split('\n')).to.have.length(1)
    expect(bad.stderr).to.match(/unknown column "colour" in --columns; choose from name, id, state/)
  })

  it('colours only on a terminal and never with NO_COLOR', async () => {
    // `script` gives ec a pseudo-terminal, as an interactive shell would.
    const onTerminal = (env: NodeJS.ProcessEnv) =>
      execFileSync('script', ['-qec', `"${process.execPath}" "${EC_BIN}" instance list`, '/dev/null'], {
        env: {...env, TERM: 'xterm-256color'},
        cwd: cp.sandbox.dir,
        encoding: 'utf8',
        timeout: 60_000,
      })
    const ESC = '\u001B['
    expect(onTerminal(cp.env)).to.include(ESC)
    const plain = onTerminal({...cp.env, NO_COLOR: '1'})
    expect(plain).to.include('alpha')
    expect(plain).to.not.include(ESC)
    expect((await ec(['instance', 'list'])).stdout).to.not.include(ESC)
  })

  it('delete takes its refs from the parsed arguments: a --config value is not an instance', async () => {
    await create('doomed')
    copyFileSync(cp.configFile, join(cp.sandbox.dir, 'f.yaml'))
    const result = await ec(['instance', 'delete', 'doomed', '--config', 'f.yaml', '--json'])
    expect(result.code, result.stderr).to.equal(0)
    expect(JSON.parse(result.stdout)).to.deep.equal([{ref: 'doomed', outcome: 'deleted'}])
    const names = (JSON.parse((await ec(['instance', 'list', '--json'])).stdout) as Array<{name: string}>).map((r) => r.name)
    expect(names).to.not.include('doomed')
  })
})
