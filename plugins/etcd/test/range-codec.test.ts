// The hand-written Range codec against protobufjs reading etcd's own .proto
// files (the copies etcd3 ships): what one encodes, the other must read.
import {expect} from 'chai'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'
import protobuf from 'protobufjs'

import {decodeRangeResponse, encodeRangeRequest} from '../src/range-codec.js'

const protoDir = join(dirname(createRequire(import.meta.url).resolve('etcd3')), '..', 'proto')
const root = protobuf.loadSync(join(protoDir, 'rpc.proto'))
const RangeRequest = root.lookupType('etcdserverpb.RangeRequest')
const RangeResponse = root.lookupType('etcdserverpb.RangeResponse')

const encodeResponse = (message: object) => Buffer.from(RangeResponse.encode(RangeResponse.fromObject(message)).finish())

describe('etcd Range codec (checked against protobufjs and etcd rpc.proto)', () => {
  it('encodes a key, or a key and a range end, as etcd reads them', () => {
    const single = RangeRequest.toObject(RangeRequest.decode(encodeRangeRequest(Buffer.from('/ec/names/web'))), {bytes: String})
    expect(single).to.deep.equal({key: Buffer.from('/ec/names/web').toString('base64')})
    // 200 bytes: the length takes two bytes of varint.
    const long = Buffer.alloc(200, 'k')
    const range = RangeRequest.toObject(RangeRequest.decode(encodeRangeRequest(long, Buffer.from('/ec0'))), {bytes: String})
    expect(range).to.deep.equal({key: long.toString('base64'), rangeEnd: Buffer.from('/ec0').toString('base64')})
  })

  it('reads the revision and every key-value, skipping the fields it does not need', () => {
    // Not ASCII: the key and value come back as UTF-8 text.
    const value = Buffer.from(JSON.stringify({id: 'a', note: `${'x'.repeat(300)} Zürich 東京 🚀`}))
    const answer = decodeRangeResponse(
      encodeResponse({
        header: {clusterId: '14841639068965178418', memberId: '10276657743932975437', revision: '9007199254740993', raftTerm: 7},
        kvs: [
          {key: Buffer.from('/ec/instances/a'), createRevision: 5, modRevision: 300, version: 3, value, lease: '7587874985155698440'},
          {key: Buffer.from('/ec/instances/b/é'), createRevision: 6, modRevision: 6, version: 1},
        ],
        more: true,
        count: 2,
      }),
    )
    expect(answer.revision).to.equal('9007199254740993') // past 2^53: exact
    expect(answer.kvs).to.deep.equal([
      {key: '/ec/instances/a', value: value.toString(), createRevision: '5', modRevision: '300'},
      {key: '/ec/instances/b/é', value: '', createRevision: '6', modRevision: '6'},
    ])
  })

  it('reads an empty answer (no keys, revision only) and refuses one cut short', () => {
    expect(decodeRangeResponse(encodeResponse({header: {revision: 42}}))).to.deep.equal({kvs: [], revision: '42'})
    const whole = encodeResponse({header: {revision: 42}, kvs: [{key: Buffer.from('k'), value: Buffer.from('v'), modRevision: 2}]})
    expect(() => decodeRangeResponse(whole.subarray(0, whole.length - 1))).to.throw(/ends inside/)
  })
})
