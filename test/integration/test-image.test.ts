// ec's test image (scripts/build-test-image.sh), built and booted directly
// under qemu (TCG, user networking), not through ec: it must boot from its own
// disk, take a DHCP lease, see its grown disk, read the NoCloud seed from the
// SMBIOS serial, fetch meta-data and user-data from a server on the host's
// loopback (the guest reaches it as slirp's 10.0.2.2), run the user-data
// script and phone home.
import {expect} from 'chai'
import {type ChildProcess, execFile, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {REPO_ROOT} from '../helpers/cli.js'

const BUILD_SCRIPT = join(REPO_ROOT, 'scripts', 'build-test-image.sh')
const IMAGE = join(REPO_ROOT, 'build', 'test-image', 'ec-test.qcow2')
const GIB = 1024 ** 3

interface Received {
  method: string
  path: string
  contentType: string
  body: string
}

interface MetadataServer {
  port: number
  requests: Received[]
  close(): Promise<void>
}

/** NoCloud over HTTP on 127.0.0.1: `/<token>/{meta-data,user-data}`, and `/<token>/phone-home` records POSTs. */
async function startMetadataServer(token: string, files: Record<string, string>): Promise<MetadataServer> {
  const requests: Received[] = []
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const path = request.url ?? '/'
      requests.push({
        method: request.method ?? '',
        path,
        contentType: request.headers['content-type'] ?? '',
        body: Buffer.concat(chunks).toString('utf8'),
      })
      const name = path.startsWith(`/${token}/`) ? path.slice(token.length + 2) : undefined
      if (name === 'phone-home' && request.method === 'POST') {
        response.writeHead(200, {'Content-Type': 'text/plain'}).end('ok\n')
      } else if (name !== undefined && request.method === 'GET' && Object.hasOwn(files, name)) {
        response.writeHead(200, {'Content-Type': 'text/plain'}).end(files[name])
      } else {
        response.writeHead(404).end('not found\n')
      }
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({host: '127.0.0.1', port: 0}, resolve)
  })
  return {
    port: (server.address() as {port: number}).port,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

function run(command: string, args: string[], timeoutMs: number): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(command, args, {timeout: timeoutMs, maxBuffer: 16 << 20}, (error, stdout, stderr) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr})
    })
  })
}

/** The console's lines, without carriage returns and terminal escape sequences. */
function consoleLines(path: string): string[] {
  if (!existsSync(path)) return []
  return readFileSync(path, 'latin1')
    // eslint-disable-next-line no-control-regex -- strips the ANSI escapes the guest console writes
    .replaceAll(/\u001B(?:\[[0-9;?]*[A-Za-z]|[A-Za-z])/g, '')
    .split(/\r?\n/)
    .map((line) => line.replaceAll('\r', ''))
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('the test image (scripts/build-test-image.sh) under qemu', function () {
  this.timeout(90_000)

  before(async function () {
    // A first build boots qemu once to install extlinux (~10 s); later ones
    // find the image up to date in about a second.
    this.timeout(600_000)
    const build = await run('bash', [BUILD_SCRIPT, IMAGE], 580_000)
    expect(build.code, `build-test-image.sh failed:\n${build.stderr}`).to.equal(0)
    expect(build.stdout.trim()).to.equal(IMAGE)
  })

  describe('booted with a NoCloud seed in the SMBIOS serial', () => {
    const token = randomBytes(8).toString('hex')
    const instanceId = `iid-${token}`
    const hostname = 'ec-test-guest'
    const userData = '#!/bin/sh\necho hello-from-user-data\n'
    let dir: string
    let server: MetadataServer
    let qemu: ChildProcess | undefined
    let qemuExit: Promise<void>
    let qemuStderr = ''
    let log: string
    let bootSeconds: number

    before(async function () {
      this.timeout(90_000)
      dir = mkdtempSync(join(tmpdir(), 'ec-test-image-'))
      log = join(dir, 'console.log')
      const overlay = join(dir, 'overlay.qcow2')
      // An overlay keeps the built image clean; at 1 GiB it is also a grown disk.
      const created = await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', IMAGE, overlay, '1G'], 30_000)
      expect(created.code, created.stderr).to.equal(0)

      server = await startMetadataServer(token, {
        'meta-data': `instance-id: ${instanceId}\nlocal-hostname: ${hostname}\n`,
        'user-data': userData,
      })
      const seed = `ds=nocloud-net;s=http://10.0.2.2:${server.port}/${token}/`

      const started = performance.now()
      qemu = spawn(
        'qemu-system-x86_64',
        [
          '-accel', 'tcg', '-m', '256', '-nographic', '-monitor', 'none',
          '-serial', `file:${log}`,
          '-drive', `file=${overlay},if=virtio`,
          '-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0',
          '-smbios', `type=1,serial=${seed}`,
        ],
        {stdio: ['ignore', 'ignore', 'pipe']},
      )
      qemu.stderr?.on('data', (chunk: Buffer) => {
        qemuStderr += chunk.toString()
      })
      qemuExit = new Promise((resolve) => qemu!.once('exit', () => resolve()))
      let exited = false
      void qemuExit.then(() => {
        exited = true
      })

      // Wait for "ready" (everything the init does comes before it).
      const deadline = started + 75_000
      for (;;) {
        const lines = consoleLines(log)
        if (bootSeconds === undefined && lines.includes('ec-test: boot')) {
          bootSeconds = (performance.now() - started) / 1000
          console.log(`      qemu start to "ec-test: boot": ${bootSeconds.toFixed(2)} s`)
        }

        if (lines.includes('ec-test: ready')) {
          console.log(`      qemu start to "ec-test: ready": ${((performance.now() - started) / 1000).toFixed(2)} s`)
          break
        }

        if (exited) expect.fail(`qemu exited early: ${qemuStderr}\n${lines.join('\n')}`)
        if (performance.now() > deadline) expect.fail(`no "ec-test: ready" within 75 s; console:\n${lines.join('\n')}`)
        await sleep(50)
      }
    })

    after(async () => {
      if (qemu && qemu.exitCode === null && qemu.signalCode === null) {
        qemu.kill('SIGKILL')
        await qemuExit
      }

      await server?.close()
      if (dir) rmSync(dir, {recursive: true, force: true})
    })

    /** The console so far, for assertion messages. */
    const consoleText = () => consoleLines(log).join('\n')

    it('boots from its disk and prints the boot line', () => {
      expect(consoleLines(log), consoleText()).to.include('ec-test: boot')
      expect(bootSeconds).to.be.a('number')
    })

    it('takes 10.0.2.15 by DHCP from user networking', () => {
      expect(consoleLines(log), consoleText()).to.include('ec-test: address 10.0.2.15')
    })

    it('sees its disk at the overlay\'s grown size', () => {
      expect(consoleLines(log), consoleText()).to.include(`ec-test: root-disk-bytes ${GIB}`)
    })

    it('fetches and prints meta-data from the seed in the SMBIOS serial', () => {
      const lines = consoleLines(log)
      expect(lines, consoleText()).to.include(`ec-test: meta-data: instance-id: ${instanceId}`)
      expect(lines, consoleText()).to.include(`ec-test: meta-data: local-hostname: ${hostname}`)
      const gets = server.requests.filter((r) => r.method === 'GET').map((r) => r.path)
      expect(gets).to.include.members([`/${token}/meta-data`, `/${token}/user-data`])
    })

    it('runs a user-data script', () => {
      const lines = consoleLines(log)
      expect(lines, consoleText()).to.include(`ec-test: user-data-bytes ${Buffer.byteLength(userData)}`)
      const output = lines.indexOf('hello-from-user-data')
      const exit = lines.indexOf('ec-test: user-data-exit 0')
      expect(output, consoleText()).to.be.greaterThan(-1)
      expect(exit, consoleText()).to.be.greaterThan(output)
    })

    it('phones home with its instance id, hostname and address', () => {
      expect(consoleLines(log), consoleText()).to.include('ec-test: phone-home ok')
      const posts = server.requests.filter((r) => r.method === 'POST')
      expect(posts, JSON.stringify(server.requests)).to.have.length(1)
      expect(posts[0].path).to.equal(`/${token}/phone-home`)
      expect(posts[0].contentType).to.match(/^application\/x-www-form-urlencoded/)
      const form = new URLSearchParams(posts[0].body)
      expect(Object.fromEntries(form)).to.deep.equal({'instance-id': instanceId, hostname, address: '10.0.2.15'})
    })

    it('prints the ec-test lines in order and ends with ready', () => {
      const steps = consoleLines(log)
        .filter((line) => line.startsWith('ec-test: ') && !line.startsWith('ec-test: meta-data: '))
        .map((line) => line.split(' ')[1])
      expect(steps, consoleText()).to.deep.equal([
        'boot', 'address', 'root-disk-bytes', 'seed', 'user-data-bytes', 'user-data-exit', 'phone-home', 'ready',
      ])
    })
  })
})
