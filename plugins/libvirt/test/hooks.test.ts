import {expect} from 'chai'

import backends from '../src/hooks/backends.js'
import {LibvirtHypervisor} from '../src/hypervisor.js'
import {scratchDir} from './helpers.js'

describe('libvirt ec-backends hook', () => {
  it('announces the libvirt hypervisor with its config section', async () => {
    const [descriptor, ...rest] = await backends()
    expect(rest).to.have.length(0)
    expect(descriptor).to.include({kind: 'hypervisor', name: 'libvirt'})
    expect(descriptor.config?.key).to.equal('libvirt')
  })

  it('creates a working backend from a config section', async () => {
    const scratch = await scratchDir()
    const [descriptor] = await backends()
    const logged: string[] = []
    const log = {debug() {}, info: (m: string) => logged.push(m), warn() {}}
    const backend = await descriptor.create({section: {uri: 'test:///default'}, config: {}, stateDir: scratch.path, log})
    try {
      expect(backend).to.be.instanceOf(LibvirtHypervisor)
      expect((await (backend as LibvirtHypervisor).health()).ok).to.equal(true)
      expect(logged.join('\n')).to.match(/type='test'/)
    } finally {
      await backend.close()
      await scratch.remove()
    }
  })
})
