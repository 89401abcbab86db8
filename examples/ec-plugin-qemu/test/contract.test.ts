// The qemu backend passes @ec/plugin-api's hypervisor contract with real
// qemu-system-x86_64 processes (TCG) supervised over QMP: a real image
// download and cache, qcow2 overlays, guests started, listed, started again
// and destroyed (powerdown skipped: the blank test disk boots no OS).
import {execFileSync} from 'node:child_process'
import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {hypervisorContract} from '@ec/plugin-api/testing'

import {QemuHypervisor} from '../src/hypervisor.js'

describe('qemu hypervisor, conformance', () => {
  let scratch: string | undefined
  before(async () => {
    // Short: the guests' QMP socket paths must fit in 107 bytes.
    scratch = await mkdtemp(join(tmpdir(), 'ec-qemu-'))
  })
  after(async () => {
    if (!scratch) return
    // Whatever qemu a failed test left behind (its pidfile is in the guest's directory).
    const guests = join(scratch, 'guests')
    for (const id of await readdir(guests).catch(() => [] as string[])) {
      const pid = Number(await readFile(join(guests, id, 'qemu.pid'), 'utf8').catch(() => ''))
      if (pid > 1) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // gone
        }
      }
    }

    await rm(scratch, {recursive: true, force: true})
  })

  hypervisorContract('qemu (QMP-supervised processes)', {
    create: () => QemuHypervisor.create({guestsDir: join(scratch!, 'guests'), imageCacheDir: join(scratch!, 'images'), shutdownTimeoutSeconds: 0}, scratch!),
    async imageFile() {
      const file = join(scratch!, 'base.qcow2')
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '16M'])
      return file
    },
    timeoutMs: 120_000,
  })
})
