// etcd's KV.Range request and answer in protobuf's wire format, for
// range-client.ts. Only the fields a read needs: the request's key and
// range_end, the answer's header revision and each key-value's key, value and
// revisions; everything else is skipped by its wire type. Written out because
// the libraries made for it cost more to load than the read takes: grpc-js
// with protobufjs (what etcd3 uses) ~0.2 s, protobufjs/minimal alone ~30 ms.
// Field numbers: etcd's api/etcdserverpb/rpc.proto and api/mvccpb/kv.proto.

export interface RangeKeyValue {
  key: string
  value: string
  modRevision: string
  createRevision: string
}

export interface RangeAnswer {
  kvs: RangeKeyValue[]
  /** The store's revision the read saw (ResponseHeader.revision). */
  revision: string
}

const VARINT = 0
const FIXED64 = 1
const LENGTH_DELIMITED = 2
const FIXED32 = 5

/** RangeRequest{key = 1, range_end = 2}: keys in [key, rangeEnd), or just key. Linearizable (serializable unset). */
export function encodeRangeRequest(key: Buffer, rangeEnd?: Buffer): Buffer {
  const parts = [bytesField(1, key)]
  if (rangeEnd) parts.push(bytesField(2, rangeEnd))
  return Buffer.concat(parts)
}

/** RangeResponse{header = 1 {revision = 3}, kvs = 2 {key = 1, create_revision = 2, mod_revision = 3, value = 5}}. */
export function decodeRangeResponse(message: Buffer): RangeAnswer {
  const answer: RangeAnswer = {kvs: [], revision: '0'}
  forEachField(new Cursor(message, 0, message.length), (field, cursor) => {
    if (field === 1) {
      forEachField(cursor, (f, header) => (f === 3 ? (answer.revision = header.varint()) : header.skip()))
    } else if (field === 2) {
      const kv: RangeKeyValue = {key: '', value: '', modRevision: '0', createRevision: '0'}
      forEachField(cursor, (f, c) => {
        if (f === 1) kv.key = c.text()
        else if (f === 2) kv.createRevision = c.varint()
        else if (f === 3) kv.modRevision = c.varint()
        else if (f === 5) kv.value = c.text()
        else c.skip()
      })
      answer.kvs.push(kv)
    } else {
      cursor.skip()
    }
  })
  return answer
}

function bytesField(field: number, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from(varintBytes((field << 3) | LENGTH_DELIMITED)), Buffer.from(varintBytes(bytes.length)), bytes])
}

function varintBytes(value: number): number[] {
  const out: number[] = []
  while (value > 0x7f) {
    out.push((value % 0x80) | 0x80)
    value = Math.floor(value / 0x80)
  }

  out.push(value)
  return out
}

/**
 * Calls `visit` with each field of the message that `cursor` spans; for a
 * length-delimited field, with the same cursor narrowed to its contents (what
 * `visit` leaves unread is skipped). Leaves `cursor` at the end of its span.
 * One cursor for the whole answer: a thousand records are some ten thousand
 * fields, and an object for each was measurable garbage.
 */
function forEachField(cursor: Cursor, visit: (field: number, cursor: Cursor) => void): void {
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

class Cursor {
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
