// The kit's in-memory backends pass the kit's own contract suites: what makes
// them fit for unit tests of core flows.
import {randomBytes} from 'node:crypto'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {
  hypervisorContract,
  MemoryHypervisor,
  MemoryScheduler,
  MemoryTransport,
  schedulerContract,
  transportContract,
} from '@ec/plugin-api/testing'

describe('in-memory backends, conformance', () => {
  let dir: string | undefined
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ec-kit-'))
  })
  after(async () => dir && rm(dir, {recursive: true, force: true}))

  transportContract('MemoryTransport', {create: async () => new MemoryTransport()})
  schedulerContract('MemoryScheduler', {create: async () => new MemoryScheduler()})
  hypervisorContract('MemoryHypervisor', {
    create: async () => new MemoryHypervisor(),
    async imageFile() {
      const file = join(dir!, 'image.raw')
      await writeFile(file, randomBytes(64 * 1024))
      return file
    },
  })
})
