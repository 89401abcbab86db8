// writeStdout: the whole text as UTF-8, whatever falls on a slice's edge,
// through short writes, and through process.stdout from where a non-blocking
// descriptor refused to wait.
import {expect} from 'chai'
import {closeSync, mkdtempSync, openSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {writeStdout} from '../../src/output/write-stdout.js'

const SLICE = 16 * 1024
// A surrogate pair (🚀) across the first slice's edge; two- and three-byte characters.
const text = Array.from({length: 5}, (_, i) => `${'é東'.repeat(i)}${'x'.repeat(SLICE - 1 - 2 * i)}🚀`).join('') + 'end\n'

describe('writeStdout', () => {
  it('writes the whole text as UTF-8, a pair of surrogates never split', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ec-stdout-'))
    try {
      const fd = openSync(join(dir, 'out'), 'w')
      try {
        writeStdout(text, fd)
      } finally {
        closeSync(fd)
      }

      expect(readFileSync(join(dir, 'out')).equals(Buffer.from(text))).to.equal(true)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('goes on after a write that took only part', () => {
    const out: Buffer[] = []
    writeStdout(text, 1, (_fd, buffer, offset, length) => {
      const taken = Math.min(length, 1000)
      out.push(Buffer.from(buffer.subarray(offset, offset + taken)))
      return taken
    })
    expect(Buffer.concat(out).toString()).to.equal(text)
  })

  it('hands the rest to the stream once the descriptor answers EAGAIN', () => {
    const out: Buffer[] = []
    let calls = 0
    const write = (_fd: number, buffer: Buffer, offset: number, length: number) => {
      if (++calls === 3) throw Object.assign(new Error('EAGAIN: resource temporarily unavailable, write'), {code: 'EAGAIN'})
      const taken = Math.min(length, 7000)
      out.push(Buffer.from(buffer.subarray(offset, offset + taken)))
      return taken
    }

    writeStdout(text, 1, write, {write: (chunk: string | Buffer) => out.push(Buffer.from(chunk))})
    expect(calls).to.equal(3)
    expect(Buffer.concat(out).toString()).to.equal(text)
  })

  it('throws any other error (a reader gone: EPIPE)', () => {
    const epipe = () => {
      throw Object.assign(new Error('EPIPE: broken pipe, write'), {code: 'EPIPE'})
    }

    expect(() => writeStdout(text, 1, epipe, {write: () => expect.fail('nothing goes to the stream')})).to.throw(/EPIPE/)
  })
})
