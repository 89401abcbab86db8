// etcd's Watch stream messages in protobuf's wire format, written out like
// range-codec.ts (and for the same reason: grpc-js with protobufjs cost more to
// load than the call takes). Only a watch's creation is sent; of each answer,
// what a watcher acts on: its id, whether it was created or canceled and why,
// and the events, each key-value read as a Range answer's is. Field numbers:
// etcd's api/etcdserverpb/rpc.proto and api/mvccpb/kv.proto.
import {bytesField, Cursor, forEachField, varintField} from './protobuf-wire.js'
import {decodeKeyValue, type RangeKeyValue} from './range-codec.js'

export interface WatchEventAnswer {
  type: 'put' | 'delete'
  /** A delete's has the key and mod_revision (the deletion's) only. */
  kv: RangeKeyValue
}

export interface WatchAnswer {
  /** ResponseHeader.revision. */
  revision: string
  /** int64; -1 when etcd could not create the watch. */
  watchId: string
  created: boolean
  canceled: boolean
  /** The revision etcd compacted to, when the watch's start revision is older (the watch is then canceled); '0' when absent. */
  compactRevision: string
  /** '' when absent. */
  cancelReason: string
  events: WatchEventAnswer[]
}

/** WatchRequest{create_request = 1 {key = 1, range_end = 2, start_revision = 3}}: a watch of [key, rangeEnd), from startRevision when given (decimal int64). */
export function encodeWatchCreateRequest(key: Buffer, rangeEnd?: Buffer, startRevision?: string): Buffer {
  const parts = [bytesField(1, key)]
  if (rangeEnd) parts.push(bytesField(2, rangeEnd))
  if (startRevision !== undefined) parts.push(varintField(3, startRevision))
  return bytesField(1, Buffer.concat(parts))
}

/** WatchResponse{header = 1 {revision = 3}, watch_id = 2, created = 3, canceled = 4, compact_revision = 5, cancel_reason = 6, events = 11}. */
export function decodeWatchResponse(message: Buffer): WatchAnswer {
  const answer: WatchAnswer = {revision: '0', watchId: '0', created: false, canceled: false, compactRevision: '0', cancelReason: '', events: []}
  forEachField(new Cursor(message, 0, message.length), (field, cursor) => {
    if (field === 1) forEachField(cursor, (f, header) => (f === 3 ? (answer.revision = header.varint()) : header.skip()))
    else if (field === 2) answer.watchId = cursor.int64()
    else if (field === 3) answer.created = cursor.varint() !== '0'
    else if (field === 4) answer.canceled = cursor.varint() !== '0'
    else if (field === 5) answer.compactRevision = cursor.varint()
    else if (field === 6) answer.cancelReason = cursor.text()
    else if (field === 11) answer.events.push(decodeEvent(cursor))
    else cursor.skip()
  })
  return answer
}

/** mvccpb.Event{type = 1 (PUT = 0, DELETE = 1), kv = 2}; prev_kv (3) skipped. */
function decodeEvent(cursor: Cursor): WatchEventAnswer {
  let type: WatchEventAnswer['type'] = 'put'
  let kv: RangeKeyValue | undefined
  forEachField(cursor, (f, c) => {
    if (f === 1) type = eventType(c.varint())
    else if (f === 2) kv = decodeKeyValue(c)
    else c.skip()
  })
  return {type, kv: kv ?? {key: '', value: '', modRevision: '0', createRevision: '0'}}
}

function eventType(value: string): WatchEventAnswer['type'] {
  if (value === '0') return 'put'
  if (value === '1') return 'delete'
  // Taken for a put or a delete, it would be acted on wrongly.
  throw new Error(`etcd's answer has a watch event of type ${value}, which ec does not know`)
}
