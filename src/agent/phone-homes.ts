// Guests report in (phone home) through the metadata backend. A report can
// arrive before the build starts waiting for it, so reports are kept until
// claimed (or until they are old).
import type {PhoneHome} from '@ec/plugin-api'

const KEEP_MS = 10 * 60_000

export class PhoneHomes {
  private readonly received = new Map<string, PhoneHome>()
  private readonly waiting = new Map<string, (report: PhoneHome) => void>()

  /** The handler to give MetadataBackend.onPhoneHome. */
  readonly receive = (report: PhoneHome): void => {
    const waiter = this.waiting.get(report.instanceId)
    if (waiter) {
      this.waiting.delete(report.instanceId)
      waiter(report)
      return
    }

    this.received.set(report.instanceId, report)
    for (const [id, r] of this.received) if (Date.now() - Date.parse(r.receivedAt) > KEEP_MS) this.received.delete(id)
  }

  /** Resolves with the guest's report; rejects on timeout or abort. */
  wait(instanceId: string, timeoutMs: number, signal: AbortSignal): Promise<PhoneHome> {
    const early = this.received.get(instanceId)
    if (early) {
      this.received.delete(instanceId)
      return Promise.resolve(early)
    }

    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer)
        signal.removeEventListener('abort', aborted)
        this.waiting.delete(instanceId)
      }

      const aborted = () => {
        done()
        reject(signal.reason)
      }

      const timer = setTimeout(() => {
        done()
        reject(new Error(`the guest did not report in (phone home) within ${Math.round(timeoutMs / 1000)} s; see its console with "ec instance console"`))
      }, timeoutMs)
      signal.addEventListener('abort', aborted, {once: true})
      this.waiting.set(instanceId, (report) => {
        done()
        resolve(report)
      })
    })
  }

  /** Forget an instance (deleted). */
  forget(instanceId: string): void {
    this.received.delete(instanceId)
  }
}
