// Errors the Placement backend raises: EcErrors from @ec/plugin-api, so core
// reports them with their reason's exit code and one-line message.
import {EcError, type EcErrorOptions, type FailureReason} from '@ec/plugin-api'

export class PlacementBackendError extends EcError {
  constructor(reason: FailureReason, message: string, options?: EcErrorOptions) {
    super(reason, message, options)
    this.name = 'PlacementBackendError'
  }
}

/** Placement's own error codes we act on (api-ref errors.inc). */
export const PlacementErrorCode = {
  concurrentUpdate: 'placement.concurrent_update',
  duplicateName: 'placement.duplicate_name',
  inventoryInUse: 'placement.inventory.inuse',
  undefined: 'placement.undefined_code',
} as const

/** An HTTP error answer from Placement, parsed from its `{"errors": [...]}` document. */
export class PlacementApiError extends PlacementBackendError {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    /** e.g. placement.concurrent_update; placement.undefined_code when Placement gave none. */
    readonly code: string,
    readonly title: string,
    /** What went wrong, without webob's boilerplate sentence. */
    readonly detail: string,
  ) {
    super(reasonForStatus(status), `Placement ${method} ${path} failed with ${status} ${title}: ${detail}`)
    this.name = 'PlacementApiError'
  }

  get isConflict(): boolean {
    return this.status === 409
  }

  get isGenerationConflict(): boolean {
    return this.status === 409 && this.code === PlacementErrorCode.concurrentUpdate
  }
}

/**
 * The traits a 400 says Placement does not know ("No such trait(s): A, B."),
 * or undefined for any other error. Filtering on a custom trait nobody created
 * yet is answered this way rather than with an empty list.
 */
export function unknownTraitsIn(error: unknown): string[] | undefined {
  if (!(error instanceof PlacementApiError && error.status === 400)) return undefined
  const match = /No such trait(?:\(s\))?:?\s+(.+?)\.?$/.exec(error.detail)
  return match ? match[1].split(/,\s*/) : undefined
}

function reasonForStatus(status: number): FailureReason {
  if (status === 401 || status === 403 || status === 406) return 'config'
  if (status === 404) return 'notFound'
  if (status === 409) return 'conflict'
  if (status === 502 || status === 503 || status === 504) return 'unavailable'
  return 'failure'
}

interface ErrorDocument {
  errors?: {status?: number; code?: string; title?: string; detail?: string}[]
  // keystonemiddleware / noauth2 answer 401 in a shape of their own
  title?: string
  message?: string
}

/** Build a PlacementApiError from whatever body an error status came with. */
export function parseErrorResponse(method: string, path: string, status: number, body: unknown): PlacementApiError {
  const document = (typeof body === 'object' && body !== null ? body : {}) as ErrorDocument
  const first = document.errors?.[0]
  const title = first?.title ?? document.title ?? `HTTP ${status}`
  const rawDetail = first?.detail ?? document.message ?? (typeof body === 'string' ? body : '')
  return new PlacementApiError(method, path, status, first?.code ?? PlacementErrorCode.undefined, title, cleanDetail(rawDetail))
}

/**
 * webob prefixes every detail with a generic sentence and a blank line
 * ("There was a conflict when trying to complete your request.\n\n ...");
 * keep only what Placement itself said, on one line.
 */
function cleanDetail(detail: string): string {
  const parts = detail.split(/\n\s*\n/)
  const specific = parts.length > 1 ? parts.slice(1).join(' ') : detail
  return specific.replace(/<br\s*\/?>/g, ' ').replace(/\s+/g, ' ').trim() || detail.trim()
}

// Node's codes for a TLS handshake that failed on a certificate: ours refused
// (ERR_SSL_…_ALERT_CERTIFICATE_REVOKED, …_UNKNOWN_CA, …_CERTIFICATE_REQUIRED) or theirs untrusted.
const TLS_REFUSAL = /^ERR_SSL_.*(ALERT|CERTIFICATE)|CERT|UNABLE_TO_VERIFY|SELF_SIGNED/

// Codes of a request that got no answer: Node's socket and DNS errors, and
// ETIMEDOUT also from http.ts when no answer came within timeoutMs. An answer
// that broke off (http.ts: ERR_BAD_RESPONSE) did come: it is a 'failure'.
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
])

export function unavailableError(url: string, cause?: unknown): PlacementBackendError {
  const error = new PlacementBackendError(
    'unavailable',
    `Placement at ${url} does not answer; start a local control plane with "ec up" or set placement.url (EC_PLACEMENT_URL)`,
    {cause},
  )
  // A refused connection sent nothing: whatever was asked did not happen.
  error.notApplied = (cause as {code?: unknown} | undefined)?.code === 'ECONNREFUSED'
  return error
}

/** Turn a transport failure (no HTTP answer) into one line that names the URL and what to do. */
export function describeTransportError(error: unknown, url: string): Error {
  if (error instanceof PlacementBackendError) return error
  const code = (error as {code?: unknown})?.code
  if (typeof code === 'string' && TLS_REFUSAL.test(code)) {
    return new PlacementBackendError(
      'config',
      `Placement at ${url} and ec do not accept each other's TLS certificates (${code}); check --credentials (placement.tls), or get a new bundle with "ec cluster credentials NAME" where the control plane runs`,
      {cause: error},
    )
  }

  if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return unavailableError(url, error)
  // The caller's AbortSignal (http.ts).
  if (code === 'ABORT_ERR') {
    return new PlacementBackendError('failure', `request to Placement at ${url} was cancelled`, {cause: error})
  }

  const message = (error as Error)?.message ?? String(error)
  return new PlacementBackendError('failure', `Placement at ${url}: ${message}`, {cause: error})
}
