// src/startup/code-cache.ts as bin/run.js uses it (the built
// dist/startup/code-cache.cjs), each load in a new Node process so V8 starts
// empty as a command does: the first run keeps V8's code, the next runs from
// it; import() through the loader still works from kept code, which Node 20's
// own import() does not; a changed bundle, even one of the same length, and
// a damaged kept file are compiled from source.
import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {REPO_ROOT} from '../helpers/cli.js'

const LOADER = join(REPO_ROOT, 'dist', 'startup', 'code-cache.cjs')

/** A module as the list's bundle is written: its import() a call to __import (scripts/bundle-startup.mjs). */
const bundle = (word: string) => `const __import = typeof __dynamicImport === "function" ? __dynamicImport : (specifier) => import(specifier);
exports.answer = async () => {
  const {word} = await __import('./dep.mjs')
  const {sep} = await __import('node:path')
  return '${word}' + sep + word
}
`

describe('start-up bundles loaded with V8 code cache', function () {
  this.timeout(60_000)
  let dir: string
  const file = () => join(dir, 'mod.cjs')
  const cacheDir = () => join(dir, 'cache')
  const kept = () => readdirSync(join(cacheDir(), 'code'))

  /** Loads the module in a new process: whether V8 took kept code, and what it answered. */
  const load = (): {fromCache: boolean; answer: string} => {
    const script = `const {requireCompiled} = require(${JSON.stringify(LOADER)})
const m = requireCompiled(${JSON.stringify(file())}, ${JSON.stringify(cacheDir())})
m.exports.answer().then(async (answer) => { await m.keep(); console.log(JSON.stringify({fromCache: m.fromCache, answer})) })`
    return JSON.parse(execFileSync(process.execPath, ['-e', script], {encoding: 'utf8'})) as {fromCache: boolean; answer: string}
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ec-code-cache-'))
    writeFileSync(join(dir, 'dep.mjs'), "export const word = 'dep'\n")
  })
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  it('keeps the code after a run and loads from it next time, import() included', () => {
    writeFileSync(file(), bundle('one'))
    expect(load()).to.deep.equal({fromCache: false, answer: 'one/dep'})
    expect(kept()).to.have.length(1)
    expect(kept()[0]).to.match(/^mod\.cjs-[\da-f]{24}\.bin$/)
    expect(load()).to.deep.equal({fromCache: true, answer: 'one/dep'})
    expect(load()).to.deep.equal({fromCache: true, answer: 'one/dep'})
  })

  it('compiles a changed module from source, even one of the same length, and forgets the old code', () => {
    writeFileSync(file(), bundle('one'))
    load()
    const before = kept()
    // V8 checks a kept code's source by length only: the key must be the text.
    writeFileSync(file(), bundle('two'))
    expect(load()).to.deep.equal({fromCache: false, answer: 'two/dep'})
    expect(kept()).to.have.length(1).and.not.deep.equal(before)
    expect(load()).to.deep.equal({fromCache: true, answer: 'two/dep'})
  })

  it('compiles from source past a damaged kept file, and keeps good code in its place', () => {
    writeFileSync(file(), bundle('one'))
    load()
    const [name] = kept()
    writeFileSync(join(cacheDir(), 'code', name), 'not code at all')
    expect(load()).to.deep.equal({fromCache: false, answer: 'one/dep'})
    expect(load()).to.deep.equal({fromCache: true, answer: 'one/dep'})
  })

  it('runs the module when the cache directory cannot be written', () => {
    writeFileSync(file(), bundle('one'))
    writeFileSync(cacheDir(), 'a file where the directory would be')
    expect(load()).to.deep.equal({fromCache: false, answer: 'one/dep'})
    expect(load()).to.deep.equal({fromCache: false, answer: 'one/dep'})
  })
})
