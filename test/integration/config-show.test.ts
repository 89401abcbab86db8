// `ec config show` through the real CLI: credentials never printed, and a code
// config found by the search refused without being run.
import {expect} from 'chai'
import {existsSync, mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {makeSandbox, parseJson, runEc, type Sandbox} from '../helpers/cli.js'

describe('ec config show and config files (real CLI)', function () {
  this.timeout(60_000)
  let sandbox: Sandbox
  beforeEach(() => {
    sandbox = makeSandbox('ec-config-show-')
  })
  afterEach(() => sandbox.cleanup())

  it('redacts the etcd password and the Placement token, from a file or the environment, in the table and in --json', async () => {
    const file = join(sandbox.dir, 'ec.config.yaml')
    writeFileSync(file, 'etcd: {username: ec, password: file-pass-1234}\nplacement: {token: file-token-5678}\n')
    const fromFile = {...sandbox.env, EC_CONFIG: file}
    const fromEnv = {...sandbox.env, EC_ETCD_PASSWORD: 'env-pass-abcd', EC_PLACEMENT_TOKEN: 'env-token-efgh'}
    for (const [env, secrets] of [
      [fromFile, ['file-pass-1234', 'file-token-5678']],
      [fromEnv, ['env-pass-abcd', 'env-token-efgh']],
    ] as const) {
      const table = await runEc(['config', 'show'], {env, cwd: sandbox.dir})
      const json = await runEc(['config', 'show', '--json'], {env, cwd: sandbox.dir})
      expect(table.code, table.stderr).to.equal(0)
      expect(json.code, json.stderr).to.equal(0)
      for (const output of [table.stdout, table.stderr, json.stdout, json.stderr]) {
        for (const secret of secrets) expect(output).not.to.include(secret)
      }

      expect(table.stdout).to.match(/etcd\.password\s+"<redacted>"/)
      expect(table.stdout).to.match(/placement\.token\s+"<redacted>"/)
      const shown = parseJson<{values: {etcd: Record<string, unknown>; placement: Record<string, unknown>}}>(json)
      expect(shown.values.etcd.password).to.equal('<redacted>')
      expect(shown.values.placement.token).to.equal('<redacted>')
    }

    // What is not a credential is shown as it is.
    const plain = parseJson<{values: {etcd: Record<string, unknown>}}>(await runEc(['config', 'show', '--json'], {env: fromFile, cwd: sandbox.dir}))
    expect(plain.values.etcd.username).to.equal('ec')
  })

  it('refuses a code config found by searching the current directory: exit 3, one line, the code never runs', async () => {
    const project = join(sandbox.dir, 'project')
    mkdirSync(project)
    const marker = join(sandbox.dir, 'ran')
    const file = join(project, 'ec.config.mjs')
    writeFileSync(file, `import {writeFileSync} from 'node:fs'\nwriteFileSync(${JSON.stringify(marker)}, 'ran')\nexport default {}\n`)
    const refused = await runEc(['config', 'show'], {env: sandbox.env, cwd: project})
    expect(refused.code).to.equal(3)
    expect(refused.stderr).to.equal(
      `Error: config file "${file}" is code, and ec runs code only from a file you name: use --config ${file} (or EC_CONFIG), move it to ~/.config/ec/, or write it as YAML or JSON\n`,
    )
    expect(existsSync(marker)).to.equal(false)
    const named = await runEc(['config', 'show', '--json', '--config', file], {env: sandbox.env, cwd: project})
    expect(named.code, named.stderr).to.equal(0)
    expect(parseJson<{file: string}>(named).file).to.equal(file)
    expect(existsSync(marker)).to.equal(true)
  })
})
