import type {GuestState} from '@ec/plugin-api'

// virDomainState, as libvirt numbers it (the binding's DomainState enum).
const RUNNING = 1
const BLOCKED = 2
const PAUSED = 3
const SHUTOFF = 5
const CRASHED = 6
const PMSUSPENDED = 7

export function toGuestState(state: number): GuestState {
  switch (state) {
    case RUNNING:
    case BLOCKED: {
      return 'running' // blocked = running, waiting on I/O
    }

    case PAUSED:
    case PMSUSPENDED: {
      return 'paused'
    }

    case SHUTOFF: {
      return 'shutoff'
    }

    case CRASHED: {
      return 'crashed'
    }

    default: {
      return 'other' // no state, or shutting down
    }
  }
}
