// Errors crossing the hypervisor contract carry a `reason` from ec's exit
// code table (BackendError); core reports them by it, whatever their class.
import type {BackendError, FailureReason} from '@ec/plugin-api'

export class QemuBackendError extends Error implements BackendError {
  constructor(
    readonly reason: FailureReason,
    message: string,
    options?: {cause?: unknown},
  ) {
    super(message, options)
    this.name = 'QemuBackendError'
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
