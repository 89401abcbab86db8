import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {dirname} from 'node:path'
import {parse} from 'yaml'

import type {MetadataBackend} from '@ec/plugin-api'

import {ConfigDriveBackend} from '../src/configdrive.js'
import backends from '../src/hooks/backends.js'
import {instance, recordingLogger, scratchDir, settingsFor} from './helpers.js'

function isoinfo(args: string[]): string {
  return execFileSync('isoinfo', args, {encoding: 'utf8'})
}

describe('configdrive backend', function () {
  this.timeout(30_000)
  let scratch: Awaited<ReturnType<typeof scratchDir>>
  let backend: ConfigDriveBackend

  beforeEach(async () => {
    scratch = await scratchDir()
    backend = new ConfigDriveBackend(await settingsFor(scratch.path), recordingLogger())
  })

  afterEach(async () => {
    await backend.close()
    await scratch.remove()
  })

  it('writes a NoCloud "cidata" ISO and attaches it as a CD-ROM', async () => {
    const userData = '#cloud-config\nruncmd: [[echo, "héllo"]]\n'
    const data = instance({hostname: 'db-1', userData})
    const published = await backend.publish(data)
    expect(published.smbios).to.equal(undefined)
    expect(published.attachments).to.have.length(1)
    const [attachment] = published.attachments
    expect(attachment.type).to.equal('cdrom')
    expect(attachment.path).to.equal(`${backend.settings.dataDir}/${data.instanceId}/cidata.iso`)

    expect(isoinfo(['-d', '-i', attachment.path])).to.match(/^Volume id: cidata$/m)
    const listing = isoinfo(['-R', '-f', '-i', attachment.path]).split('\n').filter(Boolean).sort()
    expect(listing).to.deep.equal(['/meta-data', '/network-config', '/user-data'])
    expect(parse(isoinfo(['-i', attachment.path, '-R', '-x', '/meta-data']))).to.deep.equal({
      'instance-id': data.instanceId,
      'local-hostname': 'db-1',
      'public-keys': data.publicKeys,
    })
    expect(isoinfo(['-i', attachment.path, '-R', '-x', '/user-data'])).to.equal(userData)
    expect(parse(isoinfo(['-i', attachment.path, '-R', '-x', '/network-config']))).to.deep.include({version: 2})
    // no staging files left behind
    expect(execFileSync('ls', ['-A', dirname(attachment.path)], {encoding: 'utf8'}).trim()).to.equal('cidata.iso')
  })

  it('rewrites the ISO on republish and removes it on unpublish (idempotent)', async () => {
    const data = instance()
    const {attachments} = await backend.publish(data)
    await backend.publish({...data, hostname: 'renamed'})
    expect(parse(isoinfo(['-i', attachments[0].path, '-R', '-x', '/meta-data']))['local-hostname']).to.equal('renamed')
    await backend.unpublish(data.instanceId)
    expect(existsSync(dirname(attachments[0].path))).to.equal(false)
    await backend.unpublish(data.instanceId)
  })

  it('rejects oversized user-data with reason usage', async () => {
    const error = await backend.publish(instance({userData: 'x'.repeat(70_000)})).catch((e: unknown) => e as {reason?: string; message?: string})
    expect((error as {reason?: string}).reason).to.equal('usage')
  })

  it('has no phone-home and reports whether an ISO tool is installed', async () => {
    backend.onPhoneHome(() => {
      throw new Error('never called')
    })
    const health = await backend.health()
    expect(health).to.include({ok: true, endpoint: backend.settings.dataDir})
    expect(health.detail).to.match(/genisoimage|xorriso/)
  })

  it('is created through the descriptor', async () => {
    const [, descriptor] = await backends()
    const created = (await descriptor.create({section: {}, config: {}, stateDir: scratch.path, log: recordingLogger()})) as MetadataBackend
    const {attachments} = await created.publish(instance({instanceId: 'i-1'}))
    expect(attachments[0].path).to.equal(`${scratch.path}/metadata/i-1/cidata.iso`)
    await created.close()
  })
})
