// The hand-written Watch codec against protobufjs reading etcd's own .proto
// files (the copies etcd3 ships): what one encodes, the other must read.
import {expect} from 'chai'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'
import protobuf from 'protobufjs'

import {decodeWatchResponse, encodeWatchCreateRequest} from '../src/watch-codec.js'

const protoDir = join(dirname(createRequire(import.meta.url).resolve('etcd3')), '..', 'proto')
const root = protobuf.loadSync(join(protoDir, 'rpc.proto'))
const WatchRequest = root.lookupType('etcdserverpb.WatchRequest')
const WatchResponse = root.lookupType('etcdserverpb.WatchResponse')

const readRequest = (message: Buffer) => WatchRequest.toObject(WatchRequest.decode(message), {longs: String, bytes: String, oneofs: true})
const encodeResponse = (message: object) => Buffer.from(WatchResponse.encode(WatchResponse.fromObject(message)).finish())
const b64 = (text: string) => Buffer.from(text).toString('base64')
const header = {clusterId: '14841639068965178418', memberId: '10276657743932975437', revision: '9007199254740993', raftTerm: 7}

describe('etcd Watch codec (checked against protobufjs and etcd rpc.proto)', () => {
  it('encodes a watch of a key, or of a range, from a revision when given', () => {
    expect(readRequest(encodeWatchCreateRequest(Buffer.from('/ec/names/東京')))).to.deep.equal({createRequest: {key: b64('/ec/names/東京')}, requestUnion: 'createRequest'})
    expect(readRequest(encodeWatchCreateRequest(Buffer.from('/ec/'), Buffer.from('/ec0'), '9007199254740993'))).to.deep.equal({
      createRequest: {key: b64('/ec/'), rangeEnd: b64('/ec0'), startRevision: '9007199254740993'},
      requestUnion: 'createRequest',
    })
    expect(readRequest(encodeWatchCreateRequest(Buffer.from('/ec/a'), undefined, '42'))).to.deep.equal({createRequest: {key: b64('/ec/a'), startRevision: '42'}, requestUnion: 'createRequest'})
  })

  it('reads a created watch, and one etcd could not create (id -1)', () => {
    expect(decodeWatchResponse(encodeResponse({header, watchId: 7, created: true}))).to.deep.equal({
      revision: '9007199254740993',
      watchId: '7',
      created: true,
      canceled: false,
      compactRevision: '0',
      cancelReason: '',
      events: [],
    })
    const refused = decodeWatchResponse(encodeResponse({header: {revision: 5}, watchId: -1, created: true, canceled: true, cancelReason: 'mvcc: watcher range is empty'}))
    expect(refused).to.include({watchId: '-1', created: true, canceled: true, cancelReason: 'mvcc: watcher range is empty'})
  })

  it('reads put and delete events, skipping prev_kv and the fields it does not need', () => {
    // Not ASCII, and 300 bytes: a length of two varint bytes.
    const value = Buffer.from(JSON.stringify({id: 'a', note: `${'x'.repeat(300)} Zürich 東京 🚀`}))
    const answer = decodeWatchResponse(
      encodeResponse({
        header,
        watchId: '9007199254740995',
        fragment: false,
        events: [
          {
            type: 'Put',
            kv: {key: Buffer.from('/ec/instances/ä'), createRevision: 5, modRevision: '9007199254740993', version: 2, value, lease: '7587874985155698440'},
            prevKv: {key: Buffer.from('/ec/instances/ä'), createRevision: 5, modRevision: 6, version: 1, value: Buffer.from('old')},
          },
          // What etcd sends for a delete: the key and the deletion's revision.
          {type: 'Delete', kv: {key: Buffer.from('/ec/names/東京'), modRevision: '9007199254740993'}},
        ],
      }),
    )
    expect(answer).to.deep.equal({
      revision: '9007199254740993',
      watchId: '9007199254740995',
      created: false,
      canceled: false,
      compactRevision: '0',
      cancelReason: '',
      events: [
        {type: 'put', kv: {key: '/ec/instances/ä', value: value.toString(), createRevision: '5', modRevision: '9007199254740993'}},
        {type: 'delete', kv: {key: '/ec/names/東京', value: '', createRevision: '0', modRevision: '9007199254740993'}},
      ],
    })
  })

  it('reads a watch canceled for a compacted start revision', () => {
    const answer = decodeWatchResponse(
      encodeResponse({header: {revision: 900}, watchId: 3, canceled: true, compactRevision: '9007199254740993', cancelReason: 'mvcc: required revision has been compacted'}),
    )
    expect(answer).to.deep.equal({
      revision: '900',
      watchId: '3',
      created: false,
      canceled: true,
      compactRevision: '9007199254740993',
      cancelReason: 'mvcc: required revision has been compacted',
      events: [],
    })
  })

  it('refuses an answer cut short, and an event type it does not know', () => {
    const whole = encodeResponse({header: {revision: 42}, watchId: 1, events: [{type: 'Delete', kv: {key: Buffer.from('k'), modRevision: 42}}]})
    expect(() => decodeWatchResponse(whole.subarray(0, whole.length - 1))).to.throw(/ends inside/)
    const unknown = encodeResponse({header: {revision: 42}, watchId: 1, events: [{type: 2, kv: {key: Buffer.from('k'), modRevision: 42}}]})
    expect(() => decodeWatchResponse(unknown)).to.throw(/event of type 2/)
  })
})
