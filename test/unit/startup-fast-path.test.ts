// The fast path's own decisions (src/startup/): which invocations it serves
// and which it leaves to oclif, and the backend hooks it finds without oclif.
import {expect} from 'chai'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {coreBackendHooks} from '../../src/startup/backend-hooks.js'
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

  it("finds the ec-backends hooks of ec's own plugins, and none when the user installed a plugin", () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ec-fast-'))
    try {
      const hooks = coreBackendHooks(REPO_ROOT, dataDir)
      expect(hooks?.map((h) => h.plugin).sort()).to.deep.equal(['@ec/plugin-etcd', '@ec/plugin-libvirt', '@ec/plugin-mdserver', '@ec/plugin-placement'])
      for (const hook of hooks!) expect(hook.file).to.match(/\/plugins\/[a-z]+\/dist\/hooks\/backends\.js$/)
      // An empty plugin list (after `ec plugins uninstall`) changes nothing.
      writeFileSync(join(dataDir, 'package.json'), JSON.stringify({private: true, oclif: {schema: 1, plugins: []}}))
      expect(coreBackendHooks(REPO_ROOT, dataDir)).to.have.length(4)
      writeFileSync(join(dataDir, 'package.json'), JSON.stringify({private: true, oclif: {schema: 1, plugins: [{name: 'ec-plugin-consul', type: 'user'}]}}))
      expect(coreBackendHooks(REPO_ROOT, dataDir)).to.equal(undefined)
    } finally {
      rmSync(dataDir, {recursive: true, force: true})
    }
  })
})
