// examples/ec-plugin-qemu's pure parts: the qemu command line of a guest, and
// its QMP client against a QMP peer on a unix socket (the real qemu runs in
// test/integration/plugin-qemu.test.ts).
import {expect} from 'chai'
import {mkdtempSync, rmSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {guestArgs, GuestPaths, stableMacAddress} from '../../examples/ec-plugin-qemu/src/command-line.js'
import {QmpCommandError, withQmp} from '../../examples/ec-plugin-qemu/src/qmp.js'

const ID = '0b6f4c9e-0d7e-4a8e-9d1c-2f7f4a1b2c3d'
const spec = {id: ID, name: 'web1', vcpus: 2, memoryMb: 512, diskGb: 1, image: {ref: 'test'}}
const disk = {path: '/var/lib/ec/a,b/disk.qcow2', format: 'qcow2', sizeGb: 1}
const paths = new GuestPaths(`/g/${ID}`)

describe('ec-plugin-qemu command line', () => {
  it('runs the guest daemonized under TCG with its pidfile, QMP socket, console log and disk', () => {
    const args = guestArgs(spec, disk, paths, {accel: 'tcg', machine: 'pc'})
    const pairs = (flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []))
    expect(pairs('-accel')).to.deep.equal(['tcg'])
    expect(pairs('-m')).to.deep.equal(['512'])
    expect(pairs('-smp')).to.deep.equal(['2'])
    expect(pairs('-uuid')).to.deep.equal([ID])
    expect(args).to.include('-daemonize')
    expect(pairs('-pidfile')).to.deep.equal([`/g/${ID}/qemu.pid`])
    expect(pairs('-qmp')).to.deep.equal([`unix:/g/${ID}/qmp.sock,server=on,wait=off`])
    expect(pairs('-chardev')).to.deep.equal([`file,id=console0,path=/g/${ID}/console.log,append=on`])
    // A comma in a path is doubled: qemu would otherwise read the rest as another option.
    expect(pairs('-drive')).to.deep.equal(['file=/var/lib/ec/a,,b/disk.qcow2,format=qcow2,if=virtio'])
    expect(pairs('-netdev')).to.deep.equal(['user,id=net0'])
    expect(pairs('-device')).to.include(`virtio-net-pci,netdev=net0,mac=${stableMacAddress(ID)}`)
    expect(args).to.not.include('-smbios')
  })

  it('passes the NoCloud seed as the SMBIOS serial, forwards as hostfwd rules, CD-ROMs on virtio-scsi', () => {
    const args = guestArgs(
      {
        ...spec,
        smbios: {serial: 'ds=nocloud-net;s=http://10.0.2.2:8775/t,k/'},
        forwards: [{guest: 22, host: '127.0.0.1:40022', proto: 'tcp'}, {guest: 53, host: '127.0.0.1:40053', proto: 'udp'}],
        attachments: [{type: 'cdrom', path: '/g/seed.iso'}],
      },
      disk,
      paths,
      {accel: 'kvm', machine: 'q35'},
    )
    const pairs = (flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []))
    expect(pairs('-smbios')).to.deep.equal(['type=1,serial=ds=nocloud-net;s=http://10.0.2.2:8775/t,,k/'])
    expect(pairs('-netdev')).to.deep.equal(['user,id=net0,hostfwd=tcp:127.0.0.1:40022-:22,hostfwd=udp:127.0.0.1:40053-:53'])
    expect(pairs('-device')).to.include.members(['virtio-scsi-pci,id=scsi0', 'scsi-cd,bus=scsi0.0,drive=attachment0'])
    expect(pairs('-drive')).to.include('file=/g/seed.iso,format=raw,if=none,id=attachment0,media=cdrom,readonly=on')
    expect(pairs('-accel')).to.deep.equal(['kvm'])
    expect(pairs('-machine')).to.deep.equal(['q35'])
  })

  it('refuses an SMBIOS field qemu does not set', () => {
    expect(() => guestArgs({...spec, smbios: {colour: 'blue'}}, disk, paths, {accel: 'tcg', machine: 'pc'})).to.throw(/SMBIOS field "colour"/)
  })
})

describe('ec-plugin-qemu QMP client', () => {
  let dir: string
  let server: Server
  let seen: string[]

  /** A QMP peer: greets, answers qmp_capabilities, sends an event before each reply, fails `boom`. */
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ec-qmp-'))
    seen = []
    server = createServer((socket) => {
      socket.write(JSON.stringify({QMP: {version: {qemu: {major: 7}}, capabilities: []}}) + '\r\n')
      let buffer = ''
      socket.on('data', (chunk) => {
        buffer += chunk.toString()
        for (let i; (i = buffer.indexOf('\n')) >= 0; ) {
          const {execute} = JSON.parse(buffer.slice(0, i)) as {execute: string}
          buffer = buffer.slice(i + 1)
          seen.push(execute)
          socket.write(JSON.stringify({event: 'RESUME', timestamp: {seconds: 1, microseconds: 0}}) + '\r\n')
          if (execute === 'boom') socket.write(JSON.stringify({error: {class: 'GenericError', desc: 'no'}}) + '\r\n')
          else socket.write(JSON.stringify({return: execute === 'query-status' ? {status: 'running', running: true} : {}}) + '\r\n')
        }
      })
    })
    await new Promise<void>((resolve) => server.listen(join(dir, 'qmp.sock'), resolve))
  })

  afterEach(async () => {
    await new Promise((resolve) => server.close(resolve))
    rmSync(dir, {recursive: true, force: true})
  })

  it('negotiates capabilities, skips events and returns the reply', async () => {
    const status = await withQmp(join(dir, 'qmp.sock'), (qmp) => qmp.execute('query-status'))
    expect(status).to.deep.equal({status: 'running', running: true})
    expect(seen).to.deep.equal(['qmp_capabilities', 'query-status'])
  })

  it('turns an error reply into a QmpCommandError', async () => {
    const failed = await withQmp(join(dir, 'qmp.sock'), (qmp) => qmp.execute('boom')).catch((error: unknown) => error)
    expect(failed).to.be.instanceOf(QmpCommandError)
    expect((failed as Error).message).to.equal('QMP boom: GenericError: no')
  })

  it('rejects when nothing listens on the socket', async () => {
    const failed = await withQmp(join(dir, 'absent.sock'), (qmp) => qmp.execute('quit'), 2000).catch((error: unknown) => error)
    expect((failed as NodeJS.ErrnoException).code).to.equal('ENOENT')
  })
})
