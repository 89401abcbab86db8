import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {parseAmount} from '../../src/input/amount.js'
import {readBoundedText} from '../../src/input/bounded-file.js'
import {parseFailure} from '../../src/input/parse-error.js'
import {escapeControlCharacters, quote} from '../../src/output/escape.js'
import {failure} from '../helpers/failure.js'

describe('command-line input', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ec-input-'))
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  it('parses amounts as text: whole, from 1 to 2^31-1, never rounded', () => {
    expect(parseAmount('2147483647', '--vcpus')).to.equal(2_147_483_647)
    expect(parseAmount(' 3 ', '--vcpus')).to.equal(3)
    for (const bad of ['0', '-1', '1.5', '1e3', '0x10', '', '2147483648', '9007199254740993', '18446744073709551616']) {
      const error = failure(() => parseAmount(bad, '--disk'))
      expect(error.reason, bad).to.equal('usage')
      expect(error.message).to.equal(`--disk must be a whole number from 1 to 2147483647, got "${bad}"`)
    }
  })

  it('reads a regular file up to its bound, and refuses devices, FIFOs and directories before reading', () => {
    writeFileSync(join(dir, 'ok'), 'abc')
    expect(readBoundedText(join(dir, 'ok'), {flag: '--f', maxBytes: 3})).to.equal('abc')
    expect(failure(() => readBoundedText(join(dir, 'ok'), {flag: '--f', maxBytes: 2, limitName: 'x.max'})).message).to.equal(
      `--f "${join(dir, 'ok')}" is 3 bytes; the limit is 2 (x.max)`,
    )
    const fifo = join(dir, 'fifo')
    execFileSync('mkfifo', [fifo])
    const started = Date.now()
    for (const [path, kind] of [
      ['/dev/zero', 'a character device'],
      [fifo, 'a FIFO'],
      [dir, 'a directory'],
    ]) {
      expect(failure(() => readBoundedText(path, {flag: '--f', maxBytes: 10})).message).to.equal(`--f "${path}" is ${kind}, not a regular file; give the path of a file`)
    }

    expect(Date.now() - started).to.be.below(2000)
    expect(failure(() => readBoundedText(join(dir, 'none'), {flag: '--f', maxBytes: 10})).message).to.equal(`--f "${join(dir, 'none')}": no such file`)
  })

  it('stops reading at the bound when a file is larger than it said (e.g. /proc files report size 0)', () => {
    // /proc/self/maps is a regular file of size 0 that yields far more than 16 bytes.
    expect(failure(() => readBoundedText('/proc/self/maps', {flag: '--f', maxBytes: 16})).message).to.equal(
      '--f "/proc/self/maps" is more than 16 bytes; the limit is 16',
    )
  })

  it('escapes control characters (C0, DEL, C1) in echoed input', () => {
    expect(escapeControlCharacters('a\u001B[31mb\u0007c\u009Bd\u007F\n')).to.equal(String.raw`a\u001B[31mb\u0007c\u009Bd\u007F\n`)
    expect(quote('plain é')).to.equal('"plain é"')
  })

  it("reshapes oclif's parse errors into one line with a pointer to --help", () => {
    const shaped = (error: Error) => parseFailure(error, 'ec instance create')
    expect(shaped(Object.assign(new Error('Nonexistent flag: --bogus\nSee more help with --help'), {flags: ['--bogus']})).message).to.equal(
      'unknown flag: --bogus (see ec instance create --help)',
    )
    const missing = Object.assign(new Error('Missing 1 required arg:\nref  Instance id or name.\nSee more help with --help'), {args: [{name: 'ref'}]})
    expect(shaped(missing).message).to.equal('missing argument REF (see ec instance create --help)')
    expect(shaped(new Error('Parsing --vcpus \n\tExpected an integer but received: 1.5\nSee more help with --help')).message).to.equal(
      'expected an integer but received: 1.5 (see ec instance create --help)',
    )
    const validation = new Error('The following errors occurred:\n  \u001B[2m--a cannot also be provided when using --b\n  --c is required\u001B[22m\nSee more help with --help')
    expect(shaped(validation).message).to.equal('--a cannot also be provided when using --b; --c is required (see ec instance create --help)')
    expect(shaped(validation).reason).to.equal('usage')
    expect(shaped(validation).exitCode).to.equal(2)
  })
})
