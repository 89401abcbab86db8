// Errors crossing the hypervisor contract carry a `reason` from ec's exit
// code table; core reports them by it (EcError from @ec/plugin-api).
import {EcError, type EcErrorOptions, type FailureReason} from '@ec/plugin-api'

export class QemuBackendError extends EcError {
  constructor(reason: FailureReason, message: string, options?: EcErrorOptions) {
    super(reason, message, options)
    this.name = 'QemuBackendError'
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
