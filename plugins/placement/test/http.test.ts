// PlacementClient's HTTP exchange (src/http.ts) against a stand-in server on
// loopback: what goes out, how answers of every kind come back, and which
// transport failures move a request on to the next URL.
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

import {expect} from 'chai'

import {PlacementClient} from '../src/client.js'
import {PlacementApiError} from '../src/errors.js'
import {rejection} from './rejection.js'

const VERSIONS = JSON.stringify({versions: [{id: 'v1.0', min_version: '1.0', max_version: '1.39'}]})

interface Seen {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

/** A server that answers GET / with a version document and anything else as `answer` says. */
async function standIn(answer: (request: Seen, response: ServerResponse) => void): Promise<{url: string; seen: Seen[]; server: Server}> {
  const seen: Seen[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const entry = {method: request.method!, url: request.url!, headers: request.headers, body: Buffer.concat(chunks).toString()}
      seen.push(entry)
      if (entry.url.replace(/^\/prefix/, '') === '/') {
        response.setHeader('Content-Type', 'application/json')
        response.end(VERSIONS)
        return
      }

      answer(entry, response)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server}
}

describe('PlacementClient over HTTP', () => {
  const servers: Server[] = []
  async function serve(answer: (request: Seen, response: ServerResponse) => void) {
    const started = await standIn(answer)
    servers.push(started.server)
    return started
  }

  afterEach(async () => {
    for (const server of servers.splice(0)) {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it('sends the token, Accept, the microversion, query parameters and a JSON body under the base URL', async () => {
    const {url, seen} = await serve((_request, response) => {
      response.setHeader('Content-Type', 'application/json')
      response.end(JSON.stringify({resource_providers: [{uuid: 'u'}]}))
    })
    const client = new PlacementClient({url: `${url}/prefix/`, token: 'secret', timeoutMs: 5000})
    expect(await client.listProviders({required: ['A', '!B'], memberOf: [['x', 'y']]})).to.deep.equal([{uuid: 'u'}])
    await client.setTraits('u', 3, ['A'])
    await client.ensureTrait('CUSTOM_X')

    expect(seen.map((request) => `${request.method} ${request.url}`)).to.deep.equal([
      'GET /prefix/',
      'GET /prefix/resource_providers?required=A%2C%21B&member_of=in%3Ax%2Cy',
      'PUT /prefix/resource_providers/u/traits',
      'PUT /prefix/traits/CUSTOM_X',
    ])
    for (const request of seen) {
      expect(request.headers['x-auth-token']).to.equal('secret')
      expect(request.headers.accept).to.equal('application/json')
    }

    expect(seen[0].headers['openstack-api-version']).to.equal(undefined)
    expect(seen.slice(1).map((request) => request.headers['openstack-api-version'])).to.deep.equal(Array(3).fill('placement 1.39'))
    expect(seen[2].headers['content-type']).to.equal('application/json')
    expect(JSON.parse(seen[2].body)).to.deep.equal({resource_provider_generation: 3, traits: ['A']})
    expect(seen[3].headers['content-type']).to.equal(undefined)
    expect(seen[3].body).to.equal('')
  })

  it('reads an error status with a body that is not JSON as its text', async () => {
    const {url} = await serve((_request, response) => {
      response.statusCode = 500
      response.end('\uFEFFsomething broke')
    })
    const error = await rejection(new PlacementClient({url, token: 'admin', timeoutMs: 5000}).getUsages('u'))
    expect(error).to.be.instanceOf(PlacementApiError)
    expect(error.message).to.equal('Placement GET /resource_providers/u/usages failed with 500 HTTP 500: something broke')
    expect(error.reason).to.equal('failure')
  })

  it('answers an empty body as nothing, and error documents as PlacementApiError', async () => {
    const {url} = await serve((request, response) => {
      if (request.method === 'DELETE') {
        response.statusCode = 204
        response.end()
        return
      }

      response.statusCode = 409
      response.setHeader('Content-Type', 'application/json')
      response.end(JSON.stringify({errors: [{status: 409, code: 'placement.concurrent_update', title: 'Conflict', detail: 'x\n\n generation conflict '}]}))
    })
    const client = new PlacementClient({url, token: 'admin', timeoutMs: 5000})
    expect(await client.deleteAllocations('c')).to.equal(true)
    const error = (await rejection(client.setTraits('u', 1, []))) as unknown as PlacementApiError
    expect(error.isGenerationConflict).to.equal(true)
    expect(error.detail).to.equal('generation conflict')
  })

  it('reports a server that does not answer within timeoutMs as unavailable, and fails a GET over to the next', async () => {
    const silent = await serve(() => {})
    const answering = await serve((_request, response) => response.end(JSON.stringify({usages: {VCPU: 1}, resource_provider_generation: 1})))
    const started = performance.now()
    const quick = new PlacementClient({url: [silent.url, answering.url], token: 'admin', timeoutMs: 300})
    await quick.microversion()
    expect((await quick.getUsages('u')).usages).to.deep.equal({VCPU: 1})
    expect(quick.url).to.equal(answering.url)
    expect(performance.now() - started).to.be.within(250, 4000)

    const timedOut = new PlacementClient({url: silent.url, token: 'admin', timeoutMs: 300})
    const error = await rejection(timedOut.getUsages('u'))
    expect(error.reason).to.equal('unavailable')
    expect(error.notApplied).to.equal(false)
    expect(error.message).to.equal(
      `Placement at ${silent.url} does not answer; start a local control plane with "ec up" or set placement.url (EC_PLACEMENT_URL)`,
    )
  })

  it('does not repeat a PUT on the next server when the first may have applied it', async () => {
    const silent = await serve(() => {})
    const answering = await serve((_request, response) => response.end('{}'))
    const client = new PlacementClient({url: [silent.url, answering.url], token: 'admin', timeoutMs: 300})
    await client.microversion()
    const error = await rejection(client.setTraits('u', 1, []))
    expect(error.reason).to.equal('unavailable')
    expect(error.notApplied).to.equal(false)
    expect(answering.seen.filter((request) => request.method === 'PUT')).to.have.length(0)
  })

  it('reports an answer that broke off as a failure, without failing over', async () => {
    const cut = await serve((_request, response) => {
      response.writeHead(200, {'Content-Length': '100'})
      response.write('{"usages": ')
      setTimeout(() => response.socket?.destroy(), 50)
    })
    const answering = await serve((_request, response) => response.end('{}'))
    const client = new PlacementClient({url: [cut.url, answering.url], token: 'admin', timeoutMs: 5000})
    await client.microversion()
    const error = await rejection(client.getUsages('u'))
    expect(error.reason).to.equal('failure')
    expect(error.message).to.equal(`Placement at ${cut.url}: stream has been aborted`)
    expect(answering.seen.filter((request) => request.url !== '/')).to.have.length(0)
  })

  it('reports a request its signal aborted as cancelled, before it went out or while it waits', async () => {
    const {url, seen} = await serve(() => {})
    const client = new PlacementClient({url, token: 'admin', timeoutMs: 5000})
    await client.microversion()
    const expected = `request to Placement at ${url} was cancelled`

    const before = await rejection(client.allocationCandidates(new URLSearchParams(), AbortSignal.abort()))
    expect(before.reason).to.equal('failure')
    expect(before.message).to.equal(expected)
    expect(seen.filter((request) => request.url !== '/')).to.have.length(0)

    const during = await rejection(client.allocationCandidates(new URLSearchParams(), AbortSignal.timeout(100)))
    expect(during.reason).to.equal('failure')
    expect(during.message).to.equal(expected)
  })

  it('says nothing listens, with notApplied, for a refused connection', async () => {
    const {url, server} = await serve(() => {})
    servers.splice(servers.indexOf(server), 1)
    await new Promise((resolve) => server.close(resolve))
    const error = await rejection(new PlacementClient({url, token: 'admin', timeoutMs: 5000}).versions())
    expect(error.reason).to.equal('unavailable')
    expect(error.notApplied).to.equal(true)
  })
})
