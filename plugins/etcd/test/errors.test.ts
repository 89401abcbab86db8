// Whether a failed etcd call may have been applied, as create's clean-up reads
// it (notApplied): told apart on the real client, against a port nobody
// listens on and a server that accepts and never answers.
import {expect} from 'chai'
import {createServer, type Server, type Socket} from 'node:net'

import {freePorts} from '../../../test/helpers/ports.js'
import {EtcdTransport} from '../src/transport.js'

async function failure(endpoint: string): Promise<{reason?: string; notApplied?: boolean}> {
  const transport = new EtcdTransport({endpoints: [endpoint], prefix: '/ec', timeoutMs: 1500})
  try {
    await transport.commit([{key: 'k', modRevision: null}], [{op: 'put', key: 'k', value: 'v'}])
    throw new Error('the commit went through')
  } catch (error) {
    return error as {reason?: string; notApplied?: boolean}
  } finally {
    await transport.close()
  }
}

describe('etcd errors: unavailable, and whether the call may have landed', () => {
  let blackhole: Server
  const sockets = new Set<Socket>()
  before(async () => {
    blackhole = createServer((socket) => void sockets.add(socket))
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve))
  })
  after(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => blackhole.close(resolve))
  })

  it('a refused connection: unavailable, certainly not applied', async () => {
    const [dead] = await freePorts(1)
    expect(await failure(`http://127.0.0.1:${dead}`)).to.include({reason: 'unavailable', notApplied: true})
  })

  it('no answer within the deadline: unavailable, and perhaps applied', async () => {
    const error = await failure(`http://127.0.0.1:${(blackhole.address() as {port: number}).port}`)
    expect(error.reason).to.equal('unavailable')
    expect(error.notApplied).to.equal(undefined)
  })
})
