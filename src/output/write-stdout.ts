// Printing a large answer (a thousand records' JSON, 1.2 MB) straight to file
// descriptor 1. process.stdout would first set up a stream over the pipe, then
// encode the whole text into one new 1.2 MB buffer before writing it: on these
// machines touching that much fresh memory costs more than the write. This
// encodes the text a slice at a time into one small buffer. Where the
// descriptor will not take a blocking write (EAGAIN: a non-blocking pipe), the
// rest goes through process.stdout, which waits for it.
import {writeSync} from 'node:fs'

/** Characters per slice: at most three UTF-8 bytes each, so a slice always fits the buffer. */
const SLICE = 16 * 1024

type WriteSync = (fd: number, buffer: Buffer, offset: number, length: number) => number

export function writeStdout(text: string, fd = 1, write: WriteSync = writeSync, stream: {write(chunk: string | Buffer): unknown} = process.stdout): void {
  const buffer = Buffer.allocUnsafeSlow(SLICE * 3)
  let at = 0
  while (at < text.length) {
    let end = Math.min(text.length, at + SLICE)
    // Never split a surrogate pair: each half alone would be written as U+FFFD.
    if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1))) end--
    const length = buffer.write(text.slice(at, end))
    let written = 0
    try {
      while (written < length) written += write(fd, buffer, written, length - written)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error
      stream.write(buffer.subarray(written, length))
      stream.write(text.slice(end))
      return
    }

    at = end
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd8_00 && code <= 0xdb_ff
}
