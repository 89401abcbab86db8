// The guests this host has, published under hosts/<host>/guests on the
// agent's liveness lease for `ec audit`. Listings are numbered when they are
// taken, and a listing is published only if none taken after it already was:
// a resync that listed a guest before its teardown destroyed it cannot
// overwrite the listing the teardown published afterwards, so the audit never
// sees a removed guest still running once its record is gone.
import type {GuestSummary, HypervisorBackend, Lease, Logger, TransportBackend} from '@ec/plugin-api'

import {keys} from '../instances/keys.js'
import {type GuestInventory, now} from '../instances/model.js'

export interface GuestListing {
  guests: GuestSummary[]
  /** When the hypervisor was asked: a reader waiting for a fresh inventory must not get one taken before it began waiting. */
  listedAt: string
  /** Taken in this order; a later listing replaces an earlier one, never the reverse. */
  sequence: number
}

export class GuestInventoryPublisher {
  private taken = 0
  private published = 0
  private publishing: Promise<void> = Promise.resolve()

  constructor(
    private readonly hostId: string,
    private readonly hypervisor: HypervisorBackend,
    private readonly transport: TransportBackend,
    private readonly lease: () => Lease | undefined,
    private readonly log: Logger,
  ) {}

  async list(): Promise<GuestListing> {
    const sequence = ++this.taken
    const listedAt = now()
    return {guests: await this.hypervisor.list(), listedAt, sequence}
  }

  /**
   * One attempt per listing, without the store's patience for stalls: the next
   * listing is fresher anyway. Publishes go out one at a time, so their order
   * on the wire is the order of the checks. A failure is logged, never thrown.
   */
  publish(listing: GuestListing): Promise<void> {
    const attempt = this.publishing.then(async () => {
      const lease = this.lease()
      if (!lease || listing.sequence <= this.published) return
      const inventory: GuestInventory = {
        at: listing.listedAt,
        guests: listing.guests.map(({id, name, state, defined}) => ({id, name, state, defined})),
      }
      await this.transport.commit([], [{op: 'put', key: keys.guests(this.hostId), value: JSON.stringify(inventory), lease: lease.id}])
      this.published = listing.sequence
    })
    this.publishing = attempt.catch((error: unknown) => this.log.warn(`cannot publish the guest inventory: ${(error as Error).message}`))
    return this.publishing
  }

  /** After a guest is removed, before its record goes: what runs now. Never throws; the next resync publishes again. */
  async refresh(): Promise<void> {
    try {
      await this.publish(await this.list())
    } catch (error) {
      this.log.warn(`cannot list the guests: ${(error as Error).message}`)
    }
  }
}
