import {expect} from 'chai'

import {PhoneHomes} from '../../src/agent/phone-homes.js'

const report = (instanceId: string) => ({instanceId, address: '10.0.2.15', receivedAt: new Date().toISOString()})

describe('phone-home waiting', () => {
  it('keeps a report that arrives before anyone waits', async () => {
    const homes = new PhoneHomes()
    homes.receive(report('a'))
    expect((await homes.wait('a', 1000, new AbortController().signal)).address).to.equal('10.0.2.15')
  })

  it('resolves a waiter when its guest reports, and only its own', async () => {
    const homes = new PhoneHomes()
    const waiting = homes.wait('b', 1000, new AbortController().signal)
    homes.receive(report('other'))
    homes.receive(report('b'))
    expect((await waiting).instanceId).to.equal('b')
  })

  it('rejects after the timeout with a reason that says what to look at', async () => {
    const error = await new PhoneHomes().wait('c', 20, new AbortController().signal).catch((e: Error) => e)
    expect((error as Error).message).to.equal('the guest did not report in (phone home) within 0 s; see its console with "ec instance console"')
  })

  it('rejects when the build is aborted, and forgets the waiter', async () => {
    const homes = new PhoneHomes()
    const controller = new AbortController()
    const waiting = homes.wait('d', 5000, controller.signal)
    controller.abort(new Error('deleted'))
    expect(((await waiting.catch((e: Error) => e)) as Error).message).to.equal('deleted')
    homes.receive(report('d')) // kept for a later wait, not delivered to the aborted one
    expect((await homes.wait('d', 10, new AbortController().signal)).instanceId).to.equal('d')
  })
})
