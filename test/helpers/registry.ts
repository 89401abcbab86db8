// A real npm registry on loopback for tests that install plugins the way a
// user would: verdaccio (a devDependency) with its storage, config and logs
// in a temp dir, no uplinks (nothing is fetched from elsewhere), anyone may
// read, and a test user that may publish.
import {type ChildProcess, execFile, spawn} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {freePorts} from './ports.js'

export interface LocalRegistry {
  url: string
  /** An npm userconfig file holding the test user's token for this registry. */
  npmrc: string
  /** Environment for npm (and `ec plugins install`, which runs npm) to use this registry only. */
  env: NodeJS.ProcessEnv
  /** `npm publish TARBALL` to this registry; rejects with npm's output when it fails. */
  publish(tarball: string): Promise<void>
  output(): string
  close(): Promise<void>
}

const require = createRequire(import.meta.url)

export async function startRegistry(startTimeoutMs = 60_000): Promise<LocalRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'ec-registry-'))
  const [port] = await freePorts(1)
  const url = `http://127.0.0.1:${port}/`
  const config = join(dir, 'config.yaml')
  mkdirSync(join(dir, 'storage'))
  writeFileSync(
    config,
    [
      `storage: ${join(dir, 'storage')}`,
      'auth:',
      `  htpasswd: {file: ${join(dir, 'htpasswd')}, max_users: 10}`,
      'uplinks: {}',
      'packages:',
      "  '**': {access: $all, publish: $authenticated, unpublish: $authenticated}",
      'log: {type: stdout, format: json, level: warn}',
      `listen: 127.0.0.1:${port}`,
      'server: {keepAliveTimeout: 0}',
    ].join('\n') + '\n',
  )
  const bin = join(dirname(require.resolve('verdaccio/package.json')), 'bin', 'verdaccio')
  const child: ChildProcess = spawn(process.execPath, [bin, '--config', config, '--listen', `127.0.0.1:${port}`], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await Promise.race([exited, sleep(10_000).then(() => child.kill('SIGKILL'))])
    await exited
    rmSync(dir, {recursive: true, force: true})
  }

  try {
    for (const deadline = Date.now() + startTimeoutMs; ; ) {
      if (child.exitCode !== null) throw new Error(`verdaccio exited with ${child.exitCode}:\n${output}`)
      const ok = await fetch(new URL('-/ping', url)).then((r) => r.ok, () => false)
      if (ok) break
      if (Date.now() > deadline) throw new Error(`verdaccio did not answer on ${url} within ${startTimeoutMs} ms:\n${output}`)
      await sleep(200)
    }

    // A user (verdaccio's htpasswd adds it on first login) and its token.
    const response = await fetch(new URL('-/user/org.couchdb.user:ec-test', url), {
      method: 'PUT',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({name: 'ec-test', password: 'ec-test-password', type: 'user', roles: [], date: new Date().toISOString()}),
    })
    const {token} = (await response.json()) as {token?: string}
    if (!token) throw new Error(`verdaccio gave no token (HTTP ${response.status}):\n${output}`)
    const npmrc = join(dir, 'npmrc')
    writeFileSync(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=${token}\naudit=false\nfund=false\nupdate-notifier=false\n`)
    const env: NodeJS.ProcessEnv = {
      npm_config_registry: url,
      npm_config_userconfig: npmrc,
      npm_config_cache: join(dir, 'npm-cache'),
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    }
    return {
      url,
      npmrc,
      env,
      output: () => output,
      close,
      publish: (tarball) =>
        new Promise((resolve, reject) => {
          execFile('npm', ['publish', tarball, '--registry', url, '--userconfig', npmrc], {env: {...process.env, ...env}, timeout: 120_000}, (error, stdout, stderr) =>
            error ? reject(new Error(`npm publish ${tarball} failed: ${stderr || stdout}`)) : resolve(),
          )
        }),
    }
  } catch (error) {
    await close()
    throw error
  }
}
