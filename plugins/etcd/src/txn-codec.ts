// etcd's KV.Txn request and answer in protobuf's wire format, written out like
// range-codec.ts (and for the same reason: grpc-js with protobufjs cost more to
// load than the call takes). Only what ec's writes need: compares of a key's
// version, create or mod revision for equality, then puts and deletes; of the
// answer, whether the compares held and the revision. Field numbers: etcd's
// api/etcdserverpb/rpc.proto.
import {bytesField, Cursor, forEachField, varintField} from './protobuf-wire.js'

export interface TxnCompare {
  key: Buffer
  /** Compare.target: VERSION = 0, CREATE = 1, MOD = 2 */
  target: 'version' | 'create' | 'mod'
  /** Compare.result: EQUAL = 0 only (what ec needs) */
  result: 'equal'
  /** int64 as a decimal string, >= 0 (may exceed 2^53: encode exactly with BigInt when needed) */
  value: string
}

export type TxnRequestOp =
  | {put: {key: Buffer; value: Buffer; lease?: string /* int64 decimal, omitted or '0' = none */}}
  | {delete: {key: Buffer}}

/** Compare.target's enum value, and the field of target_union that holds what it is compared with. */
const TARGETS = {
  version: {target: 0, field: 4},
  create: {target: 1, field: 5},
  mod: {target: 2, field: 6},
} as const

const EQUAL = 0

/** TxnRequest{compare = 1, success = 2}; failure (3) left empty. */
export function encodeTxnRequest(compares: TxnCompare[], success: TxnRequestOp[]): Buffer {
  const parts: Buffer[] = []
  for (const compare of compares) parts.push(bytesField(1, encodeCompare(compare)))
  for (const op of success) parts.push(bytesField(2, encodeRequestOp(op)))
  return Buffer.concat(parts)
}

/** TxnResponse{header = 1 {revision = 3}, succeeded = 2}; responses (3) skipped. */
export function decodeTxnResponse(message: Buffer): {succeeded: boolean; revision: string} {
  // succeeded false is proto3's default: etcd leaves it off the wire.
  const answer = {succeeded: false, revision: '0'}
  forEachField(new Cursor(message, 0, message.length), (field, cursor) => {
    if (field === 1) forEachField(cursor, (f, header) => (f === 3 ? (answer.revision = header.varint()) : header.skip()))
    else if (field === 2) answer.succeeded = cursor.varint() !== '0'
    else cursor.skip()
  })
  return answer
}

/** Compare{result = 1, target = 2, key = 3, version = 4 | create_revision = 5 | mod_revision = 6}. */
function encodeCompare(compare: TxnCompare): Buffer {
  const {target, field} = TARGETS[compare.target]
  return Buffer.concat([
    varintField(1, EQUAL),
    varintField(2, target),
    bytesField(3, compare.key),
    // Written even when 0 (create 0: the key must not exist): in a oneof, 0 is
    // a value set, not proto3's default left off, and etcd's Go client sends it.
    varintField(field, compare.value),
  ])
}

/** RequestOp{request_put = 2 PutRequest{key = 1, value = 2, lease = 3}, request_delete_range = 3 DeleteRangeRequest{key = 1}}. */
function encodeRequestOp(op: TxnRequestOp): Buffer {
  if ('put' in op) {
    const {key, value, lease} = op.put
    const parts = [bytesField(1, key), bytesField(2, value)]
    if (lease !== undefined && lease !== '0') parts.push(varintField(3, lease))
    return bytesField(2, Buffer.concat(parts))
  }

  return bytesField(3, bytesField(1, op.delete.key))
}
