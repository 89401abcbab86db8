// The libvirt hypervisor passes @ec/plugin-api's hypervisor contract on
// libvirt's test driver (test:///default: domains are defined and "run"
// without a guest), with a real image download, cache and qcow2 disks.
import {hypervisorContract} from '@ec/plugin-api/testing'
import {join} from 'node:path'

import {resolveSettings} from '../src/config.js'
import {LibvirtHypervisor} from '../src/hypervisor.js'
import {makeQcow2, scratchDir} from './helpers.js'

describe('libvirt hypervisor, conformance', () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>> | undefined
  before(async () => {
    scratch = await scratchDir()
  })
  after(async () => scratch?.remove())

  hypervisorContract('libvirt on test:///default', {
    create: async () => new LibvirtHypervisor(resolveSettings({uri: 'test:///default'}, scratch!.path), 'test'),
    async imageFile() {
      const file = join(scratch!.path, 'base.qcow2')
      makeQcow2(file, '16M')
      return file
    },
  })
})
