import {expect} from 'chai'
import {readFile, writeFile} from 'node:fs/promises'
import {createServer, type Server, type Socket} from 'node:net'
import {parse} from 'yaml'

import type {PhoneHome} from '@ec/plugin-api'

import {resolveMetadataSettings} from '../src/config.js'
import backends from '../src/hooks/backends.js'
import {MdserverBackend} from '../src/mdserver.js'
import {startMetadataServer} from '../src/server.js'
import {recordPath} from '../src/store.js'
import {childServer, eventually, instance, raw, rawSocket, recordingLogger, scratchDir, seedPath, settingsFor} from './helpers.js'

describe('mdserver ec-backends hook', () => {
  it('announces mdserver and configdrive sharing one "metadata" section', async () => {
    const list = await backends()
    expect(list.map((d) => `${d.kind}/${d.name}`)).to.deep.equal(['metadata/mdserver', 'metadata/configdrive'])
    expect(list[0].config).to.equal(list[1].config)
    const section = list[0].config!
    expect(section.key).to.equal('metadata')
    expect(section.env).to.deep.include({EC_METADATA_PORT: {key: 'port', type: 'integer'}})
    expect(section.defaults({host: '127.0.0.1', etcdClientPort: 2379, placementPort: 8778, etcdEndpoints: ['http://127.0.0.1:2379'], placementUrls: ['http://127.0.0.1:8778']})).to.deep.equal({
      host: '127.0.0.1',
      port: 8775,
      maxUserDataBytes: 65_536,
      ec2: {enabled: false},
      defaultPublicKeys: [],
      vendorPhoneHome: true,
    })
  })

  it('resolves the guest URL from the port and the data directory from the state directory', () => {
    const s = resolveMetadataSettings({host: '127.0.0.1', port: 9999}, '/var/lib/ec/compute')
    expect(s.guestBaseUrl).to.equal('http://10.0.2.2:9999')
    expect(s.dataDir).to.equal('/var/lib/ec/compute/metadata')
    expect(resolveMetadataSettings({dataDir: 'md', guestBaseUrl: 'http://192.0.2.1:80/'}, '/s')).to.include({dataDir: '/s/md', guestBaseUrl: 'http://192.0.2.1:80'})
  })

  it('creates a working backend through the descriptor', async () => {
    const scratch = await scratchDir()
    const settings = await settingsFor(scratch.path)
    const [descriptor] = await backends()
    const backend = await descriptor.create({section: {host: '127.0.0.1', port: settings.port}, config: {}, stateDir: scratch.path, log: recordingLogger()})
    try {
      expect(backend.constructor.name).to.equal('MdserverBackend')
      const health = await (backend as MdserverBackend).health()
      expect(health.ok).to.equal(true)
      expect(health.endpoint).to.equal(`http://127.0.0.1:${settings.port}`)
    } finally {
      await backend.close()
      await scratch.remove()
    }
  })
})

describe('mdserver backend', function () {
  this.timeout(30_000)
  let scratch: Awaited<ReturnType<typeof scratchDir>>
  let backend: MdserverBackend
  let port: number
  let log: ReturnType<typeof recordingLogger>

  beforeEach(async () => {
    scratch = await scratchDir()
    const settings = await settingsFor(scratch.path)
    port = settings.port
    log = recordingLogger()
    backend = new MdserverBackend(settings, log)
  })

  afterEach(async () => {
    await backend.close()
    await scratch.remove()
  })

  it('publishes a NoCloud seed URL in the SMBIOS serial and serves the instance under it', async () => {
    const userData = '#cloud-config\r\npackages: [htop]\n# ünïcødé ✓\n\u0000\n'
    const data = instance({hostname: 'web-1', userData})
    const published = await backend.publish(data)
    expect(published.attachments).to.deep.equal([])
    expect(published.smbios?.serial).to.match(new RegExp(`^ds=nocloud-net;s=http://10\\.0\\.2\\.2:${port}/[A-Za-z0-9_-]{43}/$`))
    const seed = seedPath(published.smbios!.serial)

    const meta = await raw(port, `${seed}meta-data`)
    expect(meta.status).to.equal(200)
    expect(parse(meta.text)).to.deep.equal({'instance-id': data.instanceId, 'local-hostname': 'web-1', 'public-keys': data.publicKeys})
    // --meta reaches NoCloud meta-data (cloud-init keeps it as ds.meta_data.meta)
    const withMeta = await backend.publish({...data, meta: {role: 'web', 'build.id': '7'}})
    expect(parse((await raw(port, `${seedPath(withMeta.smbios!.serial)}meta-data`)).text).meta).to.deep.equal({role: 'web', 'build.id': '7'})

    const user = await raw(port, `${seed}user-data`)
    expect(user.status).to.equal(200)
    expect(user.body.equals(Buffer.from(userData, 'utf8'))).to.equal(true)

    // vendor-data tells cloud-init where to phone home (vendorPhoneHome, on by default)
    const vendor = await raw(port, `${seed}vendor-data`)
    expect(vendor.status).to.equal(200)
    expect(vendor.text).to.match(/^#cloud-config\n/)
    expect(parse(vendor.text)).to.deep.equal({phone_home: {url: `http://10.0.2.2:${port}${seed}phone-home`, post: ['instance_id', 'hostname', 'pub_key_rsa', 'pub_key_ecdsa', 'pub_key_ed25519'], tries: 10}})

    const network = await raw(port, `${seed}network-config`)
    expect(network.status).to.equal(200)
    expect(parse(network.text)).to.deep.include({version: 2})
  })

  it('serves an empty cloud-config without user-data, vendor-data as given, and merges the default keys', async () => {
    await backend.close()
    backend = new MdserverBackend(resolveMetadataSettings({port, defaultPublicKeys: ['ssh-rsa AAAAB3 ops@site'], vendorPhoneHome: false}, scratch.path), log)
    const data = instance()
    const seed = seedPath((await backend.publish(data)).smbios!.serial)
    expect((await raw(port, `${seed}user-data`)).text).to.equal('#cloud-config\n{}\n')
    expect((await raw(port, `${seed}vendor-data`)).text).to.equal('')
    const own = seedPath((await backend.publish(instance({vendorData: '#cloud-config\nfoo: 1\n'}))).smbios!.serial)
    expect((await raw(port, `${own}vendor-data`)).text).to.equal('#cloud-config\nfoo: 1\n')
    expect(parse((await raw(port, `${seed}meta-data`)).text)['public-keys']).to.deep.equal([...data.publicKeys, 'ssh-rsa AAAAB3 ops@site'])
  })

  it('keeps the token when an instance is published again, and serves the new data at once', async () => {
    const data = instance()
    const first = (await backend.publish(data)).smbios!.serial
    const second = (await backend.publish({...data, hostname: 'web-2'})).smbios!.serial
    expect(second).to.equal(first)
    expect(parse((await raw(port, `${seedPath(second)}meta-data`)).text)['local-hostname']).to.equal('web-2')
  })

  it('stores each instance durably as a JSON file in the data directory', async () => {
    const data = instance({userData: 'hello'})
    const seed = seedPath((await backend.publish(data)).smbios!.serial)
    const record = JSON.parse(await readFile(recordPath(backend.settings.dataDir, data.instanceId), 'utf8'))
    expect(record).to.deep.include({version: 1, token: seed.slice(1, -1)})
    expect(record.metadata).to.deep.include({instanceId: data.instanceId, userData: 'hello'})
  })

  it('rejects user-data over maxUserDataBytes with reason usage', async () => {
    const data = instance({userData: 'x'.repeat(64 * 1024 + 1)})
    const error = await backend.publish(data).then(
      () => undefined,
      (e: unknown) => e as Error & {reason?: string},
    )
    expect(error?.reason).to.equal('usage')
    expect(error?.message).to.match(/user-data is 65537 bytes, over the 65536-byte limit \(metadata\.maxUserDataBytes\)/)
    expect(error?.message).not.to.include('\n')
    // exactly at the limit is fine
    await backend.publish(instance({userData: 'x'.repeat(64 * 1024)}))
  })

  it('rejects an instance id that could escape the data directory', async () => {
    for (const instanceId of ['../evil', 'a/b', '.hidden', '']) {
      const error = await backend.publish(instance({instanceId})).catch((e: unknown) => e as {reason?: string})
      expect((error as {reason?: string})?.reason, instanceId).to.equal('usage')
    }
  })

  it('records a phone-home (form-encoded or JSON) and calls the handlers', async () => {
    const reports: PhoneHome[] = []
    backend.onPhoneHome((r) => reports.push(r))
    const data = instance()
    const seed = seedPath((await backend.publish(data)).smbios!.serial)

    const form = await raw(port, `${seed}phone-home`, {
      method: 'POST',
      headers: {'content-type': 'application/x-www-form-urlencoded'},
      body: new URLSearchParams({
        instance_id: data.instanceId,
        hostname: 'web-1',
        pub_key_ed25519: 'ssh-ed25519 AAAAC3Nza root@web-1\n',
        pub_key_ecdsa: 'ecdsa-sha2-nistp256 AAAAE2Vj',
        pub_key_rsa: 'not a key',
      }).toString(),
    })
    expect(form.status).to.equal(200)
    await eventually(() => (reports.length === 1 ? true : undefined))
    // from loopback: NAT's address (user networking), not the guest's, so none
    expect(reports[0]).to.deep.include({instanceId: data.instanceId, hostname: 'web-1', address: undefined})
    // host keys without their comments, malformed ones dropped
    expect(reports[0].hostKeys).to.deep.equal(['ecdsa-sha2-nistp256 AAAAE2Vj', 'ssh-ed25519 AAAAC3Nza'])
    expect(Date.parse(reports[0].receivedAt)).to.be.closeTo(Date.now(), 5000)
    const record = JSON.parse(await readFile(recordPath(backend.settings.dataDir, data.instanceId), 'utf8'))
    expect(record.phoneHome).to.deep.include({at: reports[0].receivedAt, source: '127.0.0.1', hostname: 'web-1'})
    expect(record.phoneHome.address).to.equal(undefined)

    await new Promise((r) => setTimeout(r, 5)) // a later timestamp
    const json = await raw(port, `${seed}phone-home`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({'instance-id': data.instanceId, hostname: 'web-1.example', ip: '10.0.2.15'}),
    })
    expect(json.status).to.equal(200)
    await eventually(() => (reports.length === 2 ? true : undefined))
    expect(reports[1]).to.deep.include({instanceId: data.instanceId, hostname: 'web-1.example', address: '10.0.2.15'})
    // the file watcher sees the same phone-homes: no handler is called twice
    await new Promise((r) => setTimeout(r, 1500))
    expect(reports).to.have.length(2)
  })

  it('unpublish removes the instance; a second unpublish is fine', async () => {
    const data = instance()
    const seed = seedPath((await backend.publish(data)).smbios!.serial)
    expect((await raw(port, `${seed}meta-data`)).status).to.equal(200)
    await backend.unpublish(data.instanceId)
    expect((await raw(port, `${seed}meta-data`)).status).to.equal(404)
    expect((await raw(port, `${seed}phone-home`, {method: 'POST'})).status).to.equal(404)
    await backend.unpublish(data.instanceId)
    await backend.unpublish('never-published')
  })

  it('keeps serving what was published after the server restarts', async () => {
    const data = instance({userData: 'kept'})
    const seed = seedPath((await backend.publish(data)).smbios!.serial)
    await backend.close()
    const refused = await raw(port, `${seed}meta-data`).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e.code,
    )
    expect(refused).to.equal('ECONNREFUSED')
    // a new agent run: its backend serves the data directory again at once
    backend = new MdserverBackend(backend.settings, log)
    await backend.resume()
    expect((await raw(port, `${seed}user-data`)).text).to.equal('kept')
    await backend.close()
    // and so does a standalone server on the same data directory
    const standalone = await startMetadataServer({host: '127.0.0.1', port}, backend.settings.dataDir, log)
    try {
      expect(parse((await raw(port, `${seed}meta-data`)).text)['instance-id']).to.equal(data.instanceId)
    } finally {
      await standalone.close()
    }

    backend = new MdserverBackend(backend.settings, log)
  })

  it('keeps instances apart: wrong tokens, other paths and traversal get 4xx', async () => {
    const a = instance({hostname: 'a', userData: 'secret-a'})
    const b = instance({hostname: 'b', userData: 'secret-b'})
    const seedA = seedPath((await backend.publish(a)).smbios!.serial)
    const seedB = seedPath((await backend.publish(b)).smbios!.serial)
    const tokenA = seedA.slice(1, -1)
    const tokenB = seedB.slice(1, -1)
    expect((await raw(port, `${seedA}user-data`)).text).to.equal('secret-a')
    expect((await raw(port, `${seedB}user-data`)).text).to.equal('secret-b')

    const wrong = 'A'.repeat(43)
    const attempts = [
      `/${wrong}/meta-data`,
      `/${tokenA.slice(0, -1)}/meta-data`,
      `/${a.instanceId}/meta-data`,
      `/${tokenA}/../${tokenB}/meta-data`,
      `/${tokenA}/%2e%2e/${tokenB}/meta-data`,
      `/${tokenA}/%2E%2E%2F${tokenB}/meta-data`,
      `/%2e%2e/${tokenB}/meta-data`,
      `/${tokenA}/..%2fuser-data`,
      `/${tokenA}/./meta-data`,
      `/${tokenA}//meta-data`,
      `/${tokenA}/meta-data/../../${tokenB}/user-data`,
      `/${tokenA}%2f..%2f${tokenB}/user-data`,
      `/../${a.instanceId}.json`,
      `/%2e%2e/%2e%2e/etc/passwd`,
      `/${tokenA}/${a.instanceId}.json`,
      `/latest/meta-data/instance-id`,
      `/openstack/latest/meta_data.json`,
    ]
    for (const path of attempts) {
      const response = await raw(port, path)
      expect(response.status, path).to.be.within(400, 499)
      expect(response.text, path).not.to.match(/secret|instance-id:/)
    }

    expect(log.lines.some((l) => l.startsWith('warn metadata: refused GET') && l.includes(wrong))).to.equal(true)
  })

  it('refuses oversized and malformed requests, and keeps serving', async () => {
    const data = instance()
    const seed = seedPath((await backend.publish(data)).smbios!.serial)

    const big = await raw(port, `${seed}phone-home`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({hostname: 'x'.repeat(70 * 1024)})})
    expect(big.status).to.equal(413)
    const badJson = await raw(port, `${seed}phone-home`, {method: 'POST', headers: {'content-type': 'application/json'}, body: '{"hostname": '})
    expect(badJson.status).to.equal(400)
    const badType = await raw(port, `${seed}phone-home`, {method: 'POST', headers: {'content-type': 'application/xml'}, body: '<a/>'})
    expect(badType.status).to.equal(415)
    expect((await raw(port, `/%zz/meta-data`)).status).to.be.within(400, 499)
    expect((await raw(port, `${seed}meta-data`, {method: 'DELETE'})).status).to.be.within(400, 499)
    expect((await raw(port, `/${'a'.repeat(5000)}/meta-data`)).status).to.be.within(400, 499)
    const huge = await rawSocket(port, `GET ${seed}meta-data HTTP/1.1\r\nHost: x\r\nX-Big: ${'y'.repeat(20_000)}\r\n\r\n`)
    expect(huge).to.match(/^HTTP\/1\.1 431/)
    const garbage = await rawSocket(port, 'NOT HTTP AT ALL\r\n\r\n')
    expect(garbage).to.match(/^HTTP\/1\.1 400/)
    const badLength = await rawSocket(port, `POST ${seed}phone-home HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n`)
    expect(badLength).to.match(/^HTTP\/1\.1 400/)

    const after = await raw(port, `${seed}meta-data`)
    expect(after.status).to.equal(200)
    expect(parse(after.text)['instance-id']).to.equal(data.instanceId)
    expect(log.lines.some((l) => /warn metadata: refused .*413/.test(l))).to.equal(true)
    expect(log.lines.some((l) => /warn metadata: refused a malformed request/.test(l))).to.equal(true)
  })

  it('shares a server this process already runs, and leaves it running when the backend closes', async () => {
    const standalone = await startMetadataServer({host: '127.0.0.1', port}, backend.settings.dataDir, log)
    try {
      const seed = seedPath((await backend.publish(instance())).smbios!.serial)
      expect((await raw(port, `${seed}meta-data`)).status).to.equal(200)
      await backend.close()
      expect((await raw(port, `${seed}meta-data`)).status).to.equal(200)
    } finally {
      await standalone.close()
    }
  })

  it('fails with reason environment when another program holds the port', async () => {
    const sockets = new Set<Socket>()
    const squatter: Server = createServer((socket) => {
      sockets.add(socket)
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno')
    })
    await new Promise<void>((resolve) => squatter.listen({host: '127.0.0.1', port}, resolve))
    try {
      const error = await backend.publish(instance()).catch((e: unknown) => e as Error & {reason?: string})
      expect((error as {reason?: string}).reason).to.equal('environment')
      expect((error as Error).message).to.include(`port ${port}`)
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => squatter.close(resolve))
    }
  })

  it('uses an ec mdserver another process runs on the port, and hears its phone-homes through the files', async () => {
    const server = await childServer(port, backend.settings.dataDir)
    try {
      const reports: PhoneHome[] = []
      backend.onPhoneHome((r) => reports.push(r))
      const data = instance({userData: 'from the agent'})
      const seed = seedPath((await backend.publish(data)).smbios!.serial)
      expect(log.lines.some((l) => l.includes('using the ec mdserver already listening'))).to.equal(true)
      // publish returns once the other process serves it
      expect((await raw(port, `${seed}user-data`)).text).to.equal('from the agent')
      expect((await backend.health()).detail).to.match(/another ec mdserver process/)

      const posted = await raw(port, `${seed}phone-home`, {method: 'POST', headers: {'content-type': 'application/x-www-form-urlencoded'}, body: 'instance_id=x&hostname=guest'})
      expect(posted.status).to.equal(200)
      await eventually(() => (reports.length > 0 ? true : undefined), 5000)
      expect(reports).to.have.length(1)
      expect(reports[0]).to.deep.include({instanceId: data.instanceId, hostname: 'guest'})

      await backend.unpublish(data.instanceId)
      await eventually(async () => ((await raw(port, `${seed}meta-data`)).status === 404 ? true : undefined))
    } finally {
      await server.stop()
    }
  })

  it('refuses to share the port with an ec mdserver that reads another data directory', async () => {
    const other = await scratchDir()
    const server = await childServer(port, other.path)
    try {
      const error = await backend.publish(instance()).catch((e: unknown) => e as Error & {reason?: string})
      expect((error as {reason?: string}).reason).to.equal('environment')
      expect((error as Error).message).to.match(/another data directory/)
    } finally {
      await server.stop()
      await other.remove()
    }
  })

  it('does not serve a file that is not an ec record, and follows files written by others', async () => {
    const data = instance()
    const seed = seedPath((await backend.publish(data)).smbios!.serial)
    await writeFile(recordPath(backend.settings.dataDir, data.instanceId), '{"not": "a record"}')
    await eventually(async () => ((await raw(port, `${seed}meta-data`)).status === 404 ? true : undefined))
    expect(log.lines.some((l) => l.includes('is not an ec metadata record'))).to.equal(true)
  })
})

describe('mdserver EC2 and OpenStack layouts', function () {
  this.timeout(30_000)
  let scratch: Awaited<ReturnType<typeof scratchDir>>
  let backend: MdserverBackend
  let port: number

  beforeEach(async () => {
    scratch = await scratchDir()
    const settings = await settingsFor(scratch.path, {ec2: {enabled: true}})
    port = settings.port
    backend = new MdserverBackend(settings, recordingLogger())
  })

  afterEach(async () => {
    await backend.close()
    await scratch.remove()
  })

  it('serves the EC2 tree to the instance whose address calls', async () => {
    const data = instance({hostname: 'ec2-guest', address: '127.0.0.1', userData: '#!/bin/sh\necho hi\n', meta: {role: 'web'}, macAddress: '52:54:00:0a:0b:0c'})
    await backend.publish(data)
    const get = async (path: string) => {
      const r = await raw(port, path)
      expect(r.status, path).to.equal(200)
      return r.text
    }

    expect((await get('/')).split('\n')).to.include.members(['2009-04-04', 'latest'])
    expect(await get('/latest/')).to.equal('dynamic\nmeta-data\nuser-data')
    const listing = (await get('/latest/meta-data/')).split('\n')
    expect(listing).to.include.members(['instance-id', 'hostname', 'local-hostname', 'public-keys/', 'placement/', 'local-ipv4'])
    expect(await get('/latest/meta-data')).to.equal(listing.join('\n'))
    expect(await get('/latest/meta-data/instance-id')).to.equal(data.instanceId)
    expect(await get('/2009-04-04/meta-data/instance-id')).to.equal(data.instanceId)
    expect(await get('/latest/meta-data/hostname')).to.equal('ec2-guest')
    expect(await get('/latest/meta-data/local-hostname')).to.equal('ec2-guest')
    expect(await get('/latest/meta-data/public-keys/')).to.equal('0=alice@laptop')
    expect(await get('/latest/meta-data/public-keys/0/')).to.equal('openssh-key')
    expect(await get('/latest/meta-data/public-keys/0/openssh-key')).to.equal(data.publicKeys[0])
    expect(await get('/latest/meta-data/placement/availability-zone')).to.equal('ec')
    expect(await get('/latest/meta-data/tags/instance/role')).to.equal('web')
    expect(await get('/latest/meta-data/mac')).to.equal('52:54:00:0a:0b:0c')
    expect(await get('/latest/user-data')).to.equal('#!/bin/sh\necho hi\n')
    expect(JSON.parse(await get('/latest/dynamic/instance-identity/document'))).to.deep.include({instanceId: data.instanceId})
    // a leaf is no directory; unknown names are 404
    expect((await raw(port, '/latest/meta-data/instance-id/')).status).to.equal(404)
    expect((await raw(port, '/latest/meta-data/nothing')).status).to.equal(404)
    expect((await raw(port, '/latest/meta-data/../user-data')).status).to.equal(404)
    expect((await raw(port, '/latest/meta-data/%2e%2e/user-data')).status).to.equal(404)

    // NoCloud keeps working beside it
    const published = await backend.publish(data)
    expect((await raw(port, `${seedPath(published.smbios!.serial)}meta-data`)).status).to.equal(200)
  })

  it('runs the IMDSv2 token flow and insists on a token once one is presented', async () => {
    await backend.publish(instance({address: '127.0.0.1'}))
    expect((await raw(port, '/latest/api/token', {method: 'PUT'})).status).to.equal(400)
    expect((await raw(port, '/latest/api/token', {method: 'PUT', headers: {'x-aws-ec2-metadata-token-ttl-seconds': '0'}})).status).to.equal(400)
    expect((await raw(port, '/latest/api/token', {method: 'PUT', headers: {'x-aws-ec2-metadata-token-ttl-seconds': '21601'}})).status).to.equal(400)
    expect((await raw(port, '/latest/api/token', {method: 'PUT', headers: {'x-aws-ec2-metadata-token-ttl-seconds': '60', 'x-forwarded-for': '1.2.3.4'}})).status).to.equal(403)

    const issued = await raw(port, '/latest/api/token', {method: 'PUT', headers: {'x-aws-ec2-metadata-token-ttl-seconds': '1'}})
    expect(issued.status).to.equal(200)
    expect(issued.headers['x-aws-ec2-metadata-token-ttl-seconds']).to.equal('1')
    const token = issued.text
    expect(token).to.match(/^[A-Za-z0-9_-]{43}$/)

    expect((await raw(port, '/latest/meta-data/instance-id', {headers: {'x-aws-ec2-metadata-token': token}})).status).to.equal(200)
    expect((await raw(port, '/latest/meta-data/instance-id', {headers: {'x-aws-ec2-metadata-token': 'forged'}})).status).to.equal(401)
    expect((await raw(port, '/latest/meta-data/instance-id')).status).to.equal(200) // IMDSv1 without a token
    await new Promise((r) => setTimeout(r, 1100))
    expect((await raw(port, '/latest/meta-data/instance-id', {headers: {'x-aws-ec2-metadata-token': token}})).status).to.equal(401)
  })

  it('refuses callers whose address no instance has, or several have', async () => {
    await backend.publish(instance({address: '10.9.9.9', userData: 'other'}))
    for (const path of ['/', '/latest/meta-data/', '/latest/user-data', '/openstack/latest/meta_data.json']) {
      const r = await raw(port, path)
      expect(r.status, path).to.be.oneOf([403, 404])
      expect(r.text).not.to.include('other')
    }

    expect((await raw(port, '/latest/api/token', {method: 'PUT', headers: {'x-aws-ec2-metadata-token-ttl-seconds': '60'}})).status).to.equal(403)
    await backend.publish(instance({address: '127.0.0.1'}))
    expect((await raw(port, '/latest/meta-data/instance-id')).status).to.equal(200)
    await backend.publish(instance({address: '::ffff:127.0.0.1'}))
    expect((await raw(port, '/latest/meta-data/instance-id')).status).to.equal(403)
  })

  it('serves the OpenStack layout', async () => {
    // without a MAC no network_data.json: an empty one would make cloud-init bring up no NIC
    const first = instance({address: '127.0.0.1'})
    await backend.publish(first)
    expect((await raw(port, '/openstack/latest/')).text.split('\n')).to.include('meta_data.json').and.not.include('network_data.json')
    expect((await raw(port, '/openstack/latest/network_data.json')).status).to.equal(404)
    await backend.unpublish(first.instanceId)

    const data = instance({address: '127.0.0.1', userData: 'os-user', meta: {role: 'db'}, macAddress: '52:54:00:AA:BB:CC'})
    await backend.publish(data)
    expect((await raw(port, '/openstack/')).text.split('\n')).to.include('latest')
    expect((await raw(port, '/openstack/latest/')).text.split('\n')).to.include.members(['meta_data.json', 'network_data.json', 'user_data', 'vendor_data.json'])
    const meta = JSON.parse((await raw(port, '/openstack/latest/meta_data.json')).text)
    expect(meta).to.deep.include({uuid: data.instanceId, hostname: 'web-1', meta: {role: 'db'}, public_keys: {'alice@laptop': data.publicKeys[0]}})
    expect((await raw(port, '/openstack/2018-08-27/user_data')).text).to.equal('os-user')
    expect(JSON.parse((await raw(port, '/openstack/latest/network_data.json')).text)).to.deep.equal({
      links: [{id: 'ec0', type: 'phy', ethernet_mac_address: '52:54:00:aa:bb:cc', mtu: 1500}],
      networks: [{id: 'network0', type: 'ipv4_dhcp', link: 'ec0', network_id: 'ec'}],
      services: [],
    })
    expect((await raw(port, '/openstack/latest/nothing')).status).to.equal(404)
    expect((await raw(port, '/openstack/latest/constructor')).status).to.equal(404)
  })
})
