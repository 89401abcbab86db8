// Errors this plugin raises across the contract. Core does not share the
// class: it reads `reason` (a row of its exit code table) and prints the
// one-line message.
import type {BackendError, FailureReason} from 'ec/plugins'

export class MetadataBackendError extends Error implements BackendError {
  notApplied?: boolean

  constructor(
    readonly reason: FailureReason,
    message: string,
    options?: {cause?: unknown; notApplied?: boolean},
  ) {
    super(message, {cause: options?.cause})
    this.name = 'MetadataBackendError'
    if (options?.notApplied) this.notApplied = true
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
