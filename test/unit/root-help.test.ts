import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {mkdirSync, readdirSync, utimesSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {EC_BIN, makeSandbox, REPO_ROOT} from '../helpers/cli.js'
import {rootHelpFile} from '../../src/startup/root-help.js'

describe('root help kept between runs', () => {
  const pipe = {isTTY: false, columns: 0} as unknown as typeof process.stdout

  it('keys the kept help on the plugin set, the terminal and the colour settings', () => {
    const sandbox = makeSandbox('ec-help-')
    try {
      const env = sandbox.env
      const base = rootHelpFile(REPO_ROOT, ['--help'], env, pipe)
      expect(rootHelpFile(REPO_ROOT, ['--help'], env, pipe)).to.equal(base)
      expect(rootHelpFile(REPO_ROOT, ['help'], env, pipe)).to.not.equal(base)
      expect(rootHelpFile(REPO_ROOT, ['--help'], {...env, NO_COLOR: '1'}, pipe)).to.not.equal(base)
      const tty = {isTTY: true, columns: 120} as unknown as typeof process.stdout
      expect(rootHelpFile(REPO_ROOT, ['--help'], env, tty)).to.not.equal(base)
      // A plugin installed by the user rewrites <dataDir>/package.json.
      const dataDir = join(env.XDG_DATA_HOME!, 'ec')
      mkdirSync(dataDir, {recursive: true})
      writeFileSync(join(dataDir, 'package.json'), '{"oclif": {"plugins": []}}')
      const withPlugins = rootHelpFile(REPO_ROOT, ['--help'], env, pipe)
      expect(withPlugins).to.not.equal(base)
      utimesSync(join(dataDir, 'package.json'), new Date(), new Date(Date.now() + 5000))
      expect(rootHelpFile(REPO_ROOT, ['--help'], env, pipe)).to.not.equal(withPlugins)
    } finally {
      sandbox.cleanup()
    }
  })

  it('prints the same help from the kept copy as oclif wrote', function () {
    this.timeout(60_000)
    const sandbox = makeSandbox('ec-help-')
    try {
      const run = () => execFileSync(process.execPath, [EC_BIN, '--help'], {env: sandbox.env, encoding: 'utf8'})
      const written = run()
      expect(written).to.include('USAGE').and.include('instance')
      expect(readdirSync(join(sandbox.env.XDG_CACHE_HOME!, 'ec', 'help'))).to.have.length(1)
      expect(run()).to.equal(written)
    } finally {
      sandbox.cleanup()
    }
  })
})
