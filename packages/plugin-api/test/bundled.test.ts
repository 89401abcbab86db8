// importBundled takes a module's bundle only while every file it was made
// from is unchanged, and the module's own file otherwise.
import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {bundleInForce, importBundled} from '@ec/plugin-api'

import {scratchDir} from './helpers.js'

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

describe('importBundled', () => {
  let dir: Awaited<ReturnType<typeof scratchDir>>
  let bundle: URL
  const unbundled = async () => ({from: 'file'})
  const from = async () => (await importBundled(bundle, unbundled)).from

  beforeEach(async () => {
    dir = await scratchDir()
    mkdirSync(join(dir.path, 'dist'))
    mkdirSync(join(dir.path, 'node_modules', 'lib'), {recursive: true})
    writeFileSync(join(dir.path, 'dist', 'transport.js'), 'export const from = "file"\n')
    writeFileSync(join(dir.path, 'node_modules', 'lib', 'package.json'), '{"version": "1.0.0"}\n')
    writeFileSync(join(dir.path, 'dist', 'transport.bundle.mjs'), 'export const from = "bundle"\n')
    const inputs = {'transport.js': sha256('export const from = "file"\n'), '../node_modules/lib/package.json': sha256('{"version": "1.0.0"}\n')}
    writeFileSync(join(dir.path, 'dist', 'transport.bundle.json'), JSON.stringify({inputs}))
    bundle = pathToFileURL(join(dir.path, 'dist', 'transport.bundle.mjs'))
  })
  afterEach(async () => dir.remove())

  it('takes the bundle while every input holds what it held when bundled', async () => {
    expect(bundleInForce(bundle)).to.equal(true)
    expect(await from()).to.equal('bundle')
    // Rewritten with the same contents (tsc again, a fresh install): still the bundle.
    writeFileSync(join(dir.path, 'dist', 'transport.js'), 'export const from = "file"\n')
    expect(await from()).to.equal('bundle')
  })

  it('takes the file once a module it was made from changed (rebuilt with tsc alone)', async () => {
    writeFileSync(join(dir.path, 'dist', 'transport.js'), 'export const from = "file, rebuilt"\n')
    expect(await from()).to.equal('file')
  })

  it('takes the file once a package it holds has another version, or an input is gone', async () => {
    writeFileSync(join(dir.path, 'node_modules', 'lib', 'package.json'), '{"version": "1.0.1"}\n')
    expect(await from()).to.equal('file')
    writeFileSync(join(dir.path, 'node_modules', 'lib', 'package.json'), '{"version": "1.0.0"}\n')
    expect(await from()).to.equal('bundle')
    rmSync(join(dir.path, 'dist', 'transport.js'))
    expect(await from()).to.equal('file')
  })

  it('takes the file when there is no manifest, or one it cannot read', async () => {
    for (const manifest of ['not json', 'null', '{"inputs": null}', '{}']) {
      writeFileSync(join(dir.path, 'dist', 'transport.bundle.json'), manifest)
      expect(await from(), manifest).to.equal('file')
    }

    rmSync(join(dir.path, 'dist', 'transport.bundle.json'))
    expect(await from()).to.equal('file')
  })
})
