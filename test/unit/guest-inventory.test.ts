import type {GuestSummary, HypervisorBackend, Lease, Logger, TxnOp, TxnResult, TxnGuard} from '@ec/plugin-api'
import {MemoryTransport} from '@ec/plugin-api/testing'
import {expect} from 'chai'

import {GuestInventoryPublisher} from '../../src/agent/guest-inventory.js'
import {keys} from '../../src/instances/keys.js'
import type {GuestInventory} from '../../src/instances/model.js'

/** Commits wait until released, one by one, so a test can hold a publish on the wire. */
class HeldTransport extends MemoryTransport {
  held: Array<() => void> = []
  hold = false

  override async commit(guards: TxnGuard[], ops: TxnOp[]): Promise<TxnResult> {
    if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve))
    return super.commit(guards, ops)
  }
}

const guest = (id: string): GuestSummary => ({id, name: id, state: 'running', defined: true})

describe('guest inventory publisher', () => {
  const host = 'host-1'
  let transport: HeldTransport
  let running: GuestSummary[]
  let lease: Lease | undefined
  let publisher: GuestInventoryPublisher
  let warnings: string[]

  beforeEach(async () => {
    warnings = []
    const log: Logger = {debug() {}, info() {}, warn: (message) => void warnings.push(message)}
    transport = new HeldTransport()
    running = [guest('a'), guest('b')]
    lease = await transport.grantLease(30)
    const hypervisor = {list: async () => [...running]} as unknown as HypervisorBackend
    publisher = new GuestInventoryPublisher(host, hypervisor, transport, () => lease, log)
  })

  const published = async () => {
    const kv = await transport.get(keys.guests(host))
    return kv ? (JSON.parse(kv.value) as GuestInventory).guests.map((g) => g.id) : undefined
  }

  it('a listing taken before a guest was removed never replaces the one taken after', async () => {
    const before = await publisher.list()
    running = [guest('a')]
    await publisher.refresh()
    expect(await published()).to.deep.equal(['a'])

    await publisher.publish(before)
    expect(await published()).to.deep.equal(['a'])
  })

  it('keeps the order while a publish is still on the wire', async () => {
    const older = await publisher.list()
    running = [guest('a')]
    const newer = await publisher.list()
    transport.hold = true
    const first = publisher.publish(newer)
    const second = publisher.publish(older)
    // Only the first is sent; the second waits behind it, then finds it newer.
    await waitFor(() => transport.held.length === 1)
    transport.hold = false
    transport.held.shift()!()
    await Promise.all([first, second])
    expect(transport.held).to.have.length(0)
    expect(await published()).to.deep.equal(['a'])
  })

  it('publishes a newer listing after an older one, with its time', async () => {
    const older = await publisher.list()
    running = []
    const newer = await publisher.list()
    await publisher.publish(older)
    expect(await published()).to.deep.equal(['a', 'b'])
    await publisher.publish(newer)
    const kv = await transport.get(keys.guests(host))
    expect(JSON.parse(kv!.value)).to.deep.equal({at: newer.listedAt, guests: []})
  })

  it('puts it on the lease, and writes nothing without one', async () => {
    await publisher.publish(await publisher.list())
    transport.expireLease(lease!.id)
    expect(await published()).to.equal(undefined)
    lease = undefined
    await publisher.publish(await publisher.list())
    expect(await published()).to.equal(undefined)
  })

  it('a failed publish is logged, not thrown, and the next one goes out', async () => {
    transport.expireLease(lease!.id) // the lease is gone but the agent still holds it: the put is refused
    await publisher.refresh()
    expect(warnings).to.have.length(1)
    expect(warnings[0]).to.match(/cannot publish the guest inventory: lease .* does not exist/)
    lease = await transport.grantLease(30)
    await publisher.refresh()
    expect(await published()).to.deep.equal(['a', 'b'])
    expect(warnings).to.have.length(1)
  })
})

async function waitFor(condition: () => boolean, deadlineMs = 5000): Promise<void> {
  const deadline = Date.now() + deadlineMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met before the deadline')
    await new Promise((resolve) => setImmediate(resolve))
  }
}
