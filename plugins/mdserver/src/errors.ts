// Errors this plugin raises across the contract: EcErrors from
// @ec/plugin-api, so core reports them with their reason's exit code.
import {EcError, type EcErrorOptions, type FailureReason} from '@ec/plugin-api'

export class MetadataBackendError extends EcError {
  constructor(reason: FailureReason, message: string, options?: EcErrorOptions) {
    super(reason, message, options)
    this.name = 'MetadataBackendError'
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
