// etcd's KV.Range request and answer in protobuf's wire format, for
// range-client.ts. Only the fields a read needs: the request's key and
// range_end, the answer's header revision and each key-value's key, value and
// revisions; everything else is skipped by its wire type. Written out because
// the libraries made for it cost more to load than the read takes: grpc-js
// with protobufjs (what etcd3 uses) ~0.2 s, protobufjs/minimal alone ~30 ms.
// Field numbers: etcd's api/etcdserverpb/rpc.proto and api/mvccpb/kv.proto.
import {bytesField, Cursor, forEachField} from './protobuf-wire.js'

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
      answer.kvs.push(decodeKeyValue(cursor))
    } else {
      cursor.skip()
    }
  })
  return answer
}

/** mvccpb.KeyValue{key = 1, create_revision = 2, mod_revision = 3, value = 5}, the message `cursor` spans; also a watch event's kv. */
export function decodeKeyValue(cursor: Cursor): RangeKeyValue {
  const kv: RangeKeyValue = {key: '', value: '', modRevision: '0', createRevision: '0'}
  forEachField(cursor, (f, c) => {
    if (f === 1) kv.key = c.text()
    else if (f === 2) kv.createRevision = c.varint()
    else if (f === 3) kv.modRevision = c.varint()
    else if (f === 5) kv.value = c.text()
    else c.skip()
  })
  return kv
}
