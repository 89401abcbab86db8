// Protobuf's wire format, as far as the hand-written etcd codecs need it
// (range-codec.ts, txn-codec.ts, watch-codec.ts): fields written as bytes and
// varints, and a cursor that reads a message field by field. The codecs say
// which fields mean what; this file knows only tags, lengths and varints.

const VARINT = 0
const FIXED64 = 1
const LENGTH_DELIMITED = 2
const FIXED32 = 5

/** A length-delimited field: bytes, a string, or an embedded message's encoding. */
export function bytesField(field: number, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from(varintBytes((field << 3) | LENGTH_DELIMITED)), Buffer.from(varintBytes(bytes.length)), bytes])
}

/** A varint field: an enum or a bool as a number, an int64 as a decimal string. */
export function varintField(field: number, value: number | string): Buffer {
  return Buffer.from([...varintBytes((field << 3) | VARINT), ...(typeof value === 'string' ? int64Bytes(value) : varintBytes(value))])
}

/** A tag, a length or a small number (up to 2^53). */
export function varintBytes(value: number): number[] {
  const out: number[] = []
  while (value > 0x7f) {
    out.push((value % 0x80) | 0x80)
    value = Math.floor(value / 0x80)
  }

  out.push(value)
  return out
}

const INT64_MAX = 2n ** 63n - 1n

/** A non-negative int64 given as a decimal string: through BigInt past 2^53, where a double would round it. */
function int64Bytes(decimal: string): number[] {
  if (!/^\d+$/.test(decimal)) throw new Error(`not a non-negative int64: '${decimal}'`)
  const value = Number(decimal)
  if (Number.isSafeInteger(value)) return varintBytes(value)
  let big = BigInt(decimal)
  if (big > INT64_MAX) throw new Error(`not a non-negative int64: '${decimal}'`)
  const out: number[] = []
  while (big > 0x7fn) {
    out.push(Number(big & 0x7fn) | 0x80)
    big >>= 7n
  }

  out.push(Number(big))
  return out
}

/**
 * Calls `visit` with each field of the message that `cursor` spans; for a
 * length-delimited field, with the same cursor narrowed to its contents (what
 * `visit` leaves unread is skipped). Leaves `cursor` at the end of its span.
 * One cursor for the whole answer: a thousand records are some ten thousand
 * fields, and an object for each was measurable garbage.
 */
export function forEachField(cursor: Cursor, visit: (field: number, cursor: Cursor) => void): void {
  const end = cursor.end
  while (cursor.at < end) {
    const tag = cursor.uint()
    const wireType = tag & 7
    cursor.wireType = wireType
    if (wireType === LENGTH_DELIMITED) {
      const length = cursor.uint()
      const start = cursor.at
      const fieldEnd = cursor.take(length)
      cursor.at = start
      cursor.end = fieldEnd
      visit(tag >>> 3, cursor)
      cursor.at = fieldEnd
      cursor.end = end
    } else {
      visit(tag >>> 3, cursor)
    }
  }
}

export class Cursor {
  /** The wire type of the field being read. */
  wireType = LENGTH_DELIMITED

  constructor(
    readonly buffer: Buffer,
    public at: number,
    /** The end of the span being read: the message, or the length-delimited field forEachField is in. */
    public end: number,
  ) {}

  /** A tag or a length: an unsigned varint that fits a double exactly. */
  uint(): number {
    let value = 0
    for (let shift = 0; shift < 53; shift += 7) {
      const byte = this.byte()
      value += (byte & 0x7f) * 2 ** shift
      if ((byte & 0x80) === 0) return value
    }

    throw new Error("etcd's answer has a tag or length beyond 2^53")
  }

  /** An unsigned varint as a decimal string (int64 revisions may pass 2^53). */
  varint(): string {
    let low = 0
    let shift = 0
    for (;;) {
      const byte = this.byte()
      if (shift < 49) {
        low += (byte & 0x7f) * 2 ** shift
        if ((byte & 0x80) === 0) return String(low)
      } else {
        return this.bigVarint(BigInt(low), byte, shift)
      }

      shift += 7
    }
  }

  /**
   * A signed int64 as a decimal string: a negative one comes as ten bytes of
   * two's complement (etcd answers a watch it could not create with id -1).
   */
  int64(): string {
    const value = this.varint()
    // Below 10^18 it is below 2^63, so not negative.
    return value.length < 19 ? value : BigInt.asIntN(64, BigInt(value)).toString()
  }

  /** The contents of a length-delimited field (the cursor spans exactly them) as UTF-8: no Buffer view made for each. */
  text(): string {
    const value = this.buffer.toString('utf8', this.at, this.end)
    this.at = this.end
    return value
  }

  skip(): void {
    switch (this.wireType) {
      case VARINT: {
        this.varint()
        break
      }

      case FIXED64: {
        this.take(8)
        break
      }

      case LENGTH_DELIMITED: {
        this.at = this.end
        break
      }

      case FIXED32: {
        this.take(4)
        break
      }

      default: {
        throw new Error(`etcd's answer has a field of wire type ${this.wireType}, which protobuf does not define`)
      }
    }
  }

  /** Advance by `length` bytes; returns the new position. */
  take(length: number): number {
    if (this.at + length > this.end) throw new Error("etcd's answer ends inside a field")
    this.at += length
    return this.at
  }

  private byte(): number {
    if (this.at >= this.end) throw new Error("etcd's answer ends inside a number")
    return this.buffer[this.at++]
  }

  private bigVarint(value: bigint, byte: number, shift: number): string {
    for (;;) {
      value += BigInt(byte & 0x7f) << BigInt(shift)
      if ((byte & 0x80) === 0) return value.toString()
      shift += 7
      byte = this.byte()
    }
  }
}
