// The Placement client against a real Placement started by `ec up`.
import {randomUUID} from 'node:crypto'

import {expect} from 'chai'

import {startControlPlane, type TestControlPlane} from '../../../test/helpers/control-plane.js'
import {freePorts} from '../../../test/helpers/ports.js'
import {PlacementClient} from '../src/client.js'
import {PlacementApiError} from '../src/errors.js'
import type {HttpServer} from '../src/http.js'
import {loadClientTls} from '@ec/plugin-api'
import {rejection} from './rejection.js'

describe('PlacementClient', () => {
  let controlPlane: TestControlPlane
  let client: PlacementClient

  before(async () => {
    controlPlane = await startControlPlane()
    client = new PlacementClient({url: controlPlane.placementUrl, token: 'admin', timeoutMs: 10_000, tls: loadClientTls(controlPlane.clientTls, 'placement')})
  })

  after(async () => {
    client?.close()
    await controlPlane?.stop()
  })

  it('negotiates the newest microversion it knows, once', async () => {
    expect(await client.microversion()).to.deep.equal({major: 1, minor: 39})
    expect(client.microversion()).to.equal(client.microversion())
  })

  it('sends the negotiated version on every request and asks the server for it only once', async () => {
    const fresh = new PlacementClient({url: controlPlane.placementUrl, token: 'admin', timeoutMs: 10_000, tls: loadClientTls(controlPlane.clientTls, 'placement')})
    const seen: {path: string; version: unknown}[] = []
    // The servers are private; the hook only observes what goes out.
    ;(fresh as unknown as {servers: HttpServer[]}).servers[0].beforeRequest = (request) => {
      seen.push({path: request.path, version: request.headers?.['OpenStack-API-Version']})
    }
    await Promise.all([fresh.listProviders(), fresh.listProviders(), fresh.getAllocations(randomUUID())])
    expect(seen.filter((request) => request.path === '/')).to.have.length(1)
    expect(seen.filter((request) => request.path !== '/').map((request) => request.version)).to.deep.equal([
      'placement 1.39',
      'placement 1.39',
      'placement 1.39',
    ])
  })

  it('parses Placement error documents into PlacementApiError', async () => {
    const uuid = randomUUID()
    const provider = await client.createProvider(uuid, `client-test-${uuid}`)
    await client.setInventories(uuid, provider.generation, {VCPU: {total: 4}})
    const error = await rejection(client.setInventories(uuid, provider.generation, {VCPU: {total: 8}}))
    expect(error).to.be.instanceOf(PlacementApiError)
    const apiError = error as unknown as PlacementApiError
    expect(apiError.status).to.equal(409)
    expect(apiError.code).to.equal('placement.concurrent_update')
    expect(apiError.detail).to.equal('resource provider generation conflict')
    expect(apiError.reason).to.equal('conflict')
    expect(apiError.isGenerationConflict).to.equal(true)
  })

  it('reports a missing provider as notFound, or as undefined where absence is an answer', async () => {
    const uuid = randomUUID()
    expect(await client.getProvider(uuid)).to.equal(undefined)
    const error = await rejection(client.getInventories(uuid))
    expect(error).to.be.instanceOf(PlacementApiError)
    expect(error.status).to.equal(404)
    expect(error.reason).to.equal('notFound')
  })

  it('creates traits and resource classes idempotently', async () => {
    await client.ensureTrait('CUSTOM_CLIENT_TEST')
    await client.ensureTrait('CUSTOM_CLIENT_TEST')
    await client.ensureResourceClass('CUSTOM_CLIENT_TEST')
    await client.ensureResourceClass('CUSTOM_CLIENT_TEST')
  })

  it('says Placement does not answer, naming the URL, when nothing listens', async () => {
    const [port] = await freePorts(1)
    const url = `http://127.0.0.1:${port}`
    const unreachable = new PlacementClient({url, token: 'admin', timeoutMs: 2000})
    const error = await rejection(unreachable.listProviders())
    expect(error.reason).to.equal('unavailable')
    expect(error.message).to.equal(
      `Placement at ${url} does not answer; start a local control plane with "ec up" or set placement.url (EC_PLACEMENT_URL)`,
    )
  })

  it('refuses requests once closed', async () => {
    const closing = new PlacementClient({url: controlPlane.placementUrl, token: 'admin', timeoutMs: 10_000, tls: loadClientTls(controlPlane.clientTls, 'placement')})
    closing.close()
    closing.close()
    expect((await rejection(closing.listProviders())).reason).to.equal('failure')
  })

  it('fails over to the next URL when one does not answer, and stays with the one that does', async () => {
    const [dead] = await freePorts(1)
    const deadUrl = `http://127.0.0.1:${dead}`
    const both = new PlacementClient({url: [deadUrl, controlPlane.placementUrl], token: 'admin', timeoutMs: 10_000, tls: loadClientTls(controlPlane.clientTls, 'placement')})
    try {
      const uuid = randomUUID()
      await both.createProvider(uuid, `failover-${uuid}`) // a POST: refused by the first, so it certainly did not happen there
      expect(both.url).to.equal(controlPlane.placementUrl)
      expect((await both.getProvider(uuid))?.uuid).to.equal(uuid)
    } finally {
      both.close()
    }
  })

  it('names every URL when none answers', async () => {
    const ports = await freePorts(2)
    const urls = ports.map((port) => `http://127.0.0.1:${port}`)
    const none = new PlacementClient({url: urls, token: 'admin', timeoutMs: 10_000})
    const error = await rejection(none.listProviders())
    expect(error.reason).to.equal('unavailable')
    expect(error.message).to.equal(
      `no Placement answers at ${urls.join(', ')}; start the control plane with "ec up" or fix placement.url (EC_PLACEMENT_URL)`,
    )
  })
})
