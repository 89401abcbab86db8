// The hand-written Txn codec against protobufjs reading etcd's own .proto
// files (the copies etcd3 ships): what one encodes, the other must read.
import {expect} from 'chai'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'
import protobuf from 'protobufjs'

import {decodeTxnResponse, encodeTxnRequest} from '../src/txn-codec.js'

const protoDir = join(dirname(createRequire(import.meta.url).resolve('etcd3')), '..', 'proto')
const root = protobuf.loadSync(join(protoDir, 'rpc.proto'))
const TxnRequest = root.lookupType('etcdserverpb.TxnRequest')
const TxnResponse = root.lookupType('etcdserverpb.TxnResponse')

// oneofs: a oneof member read from the wire is named (targetUnion, request), so one left off shows.
const readRequest = (message: Buffer) => TxnRequest.toObject(TxnRequest.decode(message), {longs: String, enums: String, bytes: String, oneofs: true})
const encodeResponse = (message: object) => Buffer.from(TxnResponse.encode(TxnResponse.fromObject(message)).finish())
const b64 = (text: string) => Buffer.from(text).toString('base64')

describe('etcd Txn codec (checked against protobufjs and etcd rpc.proto)', () => {
  it('encodes each compare target with its value, 0 included, and 2^53 + 1 exactly', () => {
    const request = readRequest(
      encodeTxnRequest(
        [
          {key: Buffer.from('/ec/a'), target: 'version', result: 'equal', value: '3'},
          // 0 twice over: the target (Version) and the value; both must reach etcd.
          {key: Buffer.from('/ec/b'), target: 'version', result: 'equal', value: '0'},
          // "The key does not exist".
          {key: Buffer.from('/ec/c'), target: 'create', result: 'equal', value: '0'},
          {key: Buffer.from('/ec/d/é'), target: 'mod', result: 'equal', value: '9007199254740993'},
        ],
        [],
      ),
    )
    expect(request).to.deep.equal({
      compare: [
        {result: 'Equal', target: 'Version', key: b64('/ec/a'), version: '3', targetUnion: 'version'},
        {result: 'Equal', target: 'Version', key: b64('/ec/b'), version: '0', targetUnion: 'version'},
        {result: 'Equal', target: 'Create', key: b64('/ec/c'), createRevision: '0', targetUnion: 'createRevision'},
        {result: 'Equal', target: 'Mod', key: b64('/ec/d/é'), modRevision: '9007199254740993', targetUnion: 'modRevision'},
      ],
    })
  })

  it('encodes puts with and without a lease and deletes, with no compares', () => {
    // Not ASCII, and 200 bytes: a length of two varint bytes.
    const value = Buffer.from(JSON.stringify({note: `${'x'.repeat(200)} Zürich 東京 🚀`}))
    const request = readRequest(
      encodeTxnRequest(
        [],
        [
          {put: {key: Buffer.from('/ec/instances/ä'), value, lease: '7587874985155698440'}},
          {put: {key: Buffer.from('/ec/names/web'), value: Buffer.from('a')}},
          {put: {key: Buffer.from('/ec/names/db'), value: Buffer.from('b'), lease: '0'}},
          {delete: {key: Buffer.from('/ec/names/old/東京')}},
        ],
      ),
    )
    expect(request).to.deep.equal({
      success: [
        {requestPut: {key: b64('/ec/instances/ä'), value: value.toString('base64'), lease: '7587874985155698440'}, request: 'requestPut'},
        {requestPut: {key: b64('/ec/names/web'), value: b64('a')}, request: 'requestPut'},
        {requestPut: {key: b64('/ec/names/db'), value: b64('b')}, request: 'requestPut'},
        {requestDeleteRange: {key: b64('/ec/names/old/東京')}, request: 'requestDeleteRange'},
      ],
    })
    expect(encodeTxnRequest([], [])).to.have.length(0)
  })

  it('encodes int64s up to 2^63 - 1 and refuses what is not one', () => {
    const compare = (value: string) => encodeTxnRequest([{key: Buffer.from('k'), target: 'mod', result: 'equal', value}], [])
    expect((readRequest(compare('9223372036854775807')).compare as {modRevision: string}[])[0].modRevision).to.equal('9223372036854775807')
    for (const bad of ['-1', '1e3', '', '9223372036854775808']) expect(() => compare(bad), bad).to.throw(/not a non-negative int64/)
  })

  it('reads whether the compares held and the revision, skipping the responses', () => {
    const header = {clusterId: '14841639068965178418', memberId: '10276657743932975437', revision: '9007199254740993', raftTerm: 7}
    const succeeded = encodeResponse({
      header,
      succeeded: true,
      responses: [{responsePut: {header}}, {responseRange: {header, kvs: [{key: Buffer.from('k'), value: Buffer.from('v'), modRevision: 2}], count: 1}}],
    })
    expect(decodeTxnResponse(succeeded)).to.deep.equal({succeeded: true, revision: '9007199254740993'})
    // false is proto3's default: etcd leaves it off the wire; written out, it reads the same.
    expect(decodeTxnResponse(encodeResponse({header: {revision: 42}, responses: [{responseRange: {header: {revision: 42}}}]}))).to.deep.equal({succeeded: false, revision: '42'})
    expect(decodeTxnResponse(encodeResponse({header: {revision: 42}, succeeded: false}))).to.deep.equal({succeeded: false, revision: '42'})
  })

  it('refuses an answer cut short', () => {
    const whole = encodeResponse({header: {revision: 42}, succeeded: true, responses: [{responsePut: {header: {revision: 42}}}]})
    expect(() => decodeTxnResponse(whole.subarray(0, whole.length - 1))).to.throw(/ends inside/)
  })
})
