// Reading a file the user named on the command line: only a regular file, and
// never more than a bound. Opening with O_NONBLOCK keeps a FIFO without a
// writer from blocking the open; fstat then refuses it (and devices such as
// /dev/zero, which never end) before a byte is read; and a file that grows
// while it is read is cut off at the bound instead of filling memory.
import {closeSync, constants, fstatSync, openSync, readSync, type Stats} from 'node:fs'

import {EcError} from '../errors.js'
import {quote} from '../output/escape.js'

export interface BoundedRead {
  /** Names the file in errors, e.g. "--user-data". */
  flag: string
  maxBytes: number
  /** Where the limit is configured, for the error, e.g. "scheduling.maxUserDataBytes". */
  limitName?: string
  /** What to do instead when the file is too large. */
  advice?: string
}

export function readBoundedText(path: string, options: BoundedRead): string {
  const {flag, maxBytes} = options
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message
    throw new EcError('usage', `${flag} ${quote(path)}: ${why}`)
  }

  try {
    const stats = fstatSync(fd)
    if (!stats.isFile()) throw new EcError('usage', `${flag} ${quote(path)} is ${kindOf(stats)}, not a regular file; give the path of a file`)
    const tooLarge = (size: string) =>
      new EcError(
        'usage',
        `${flag} ${quote(path)} is ${size} bytes; the limit is ${maxBytes}${options.limitName ? ` (${options.limitName})` : ''}${options.advice ? `: ${options.advice}` : ''}`,
      )
    if (stats.size > maxBytes) throw tooLarge(String(stats.size))
    const buffer = Buffer.alloc(maxBytes + 1)
    let length = 0
    while (length < buffer.length) {
      const read = readSync(fd, buffer, length, buffer.length - length, null)
      if (read === 0) break
      length += read
    }

    if (length > maxBytes) throw tooLarge(`more than ${maxBytes}`)
    return buffer.subarray(0, length).toString('utf8')
  } finally {
    closeSync(fd)
  }
}

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory'
  if (stats.isFIFO()) return 'a FIFO'
  if (stats.isCharacterDevice()) return 'a character device'
  if (stats.isBlockDevice()) return 'a block device'
  if (stats.isSocket()) return 'a socket'
  return 'not a file'
}
