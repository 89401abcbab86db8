import {EcError, type EcErrorOptions, type FailureReason} from '@ec/plugin-api'

export class EtcdBackendError extends EcError {
  constructor(reason: FailureReason, message: string, options?: EcErrorOptions) {
    super(reason, message, options)
    this.name = 'EtcdBackendError'
  }
}

/** Raised through WatchOptions.onError when the history to resume from is gone. */
export class WatchCompactedError extends EtcdBackendError {
  readonly compacted = true
  constructor(prefix: string, cause: unknown) {
    super('conflict', `etcd compacted the history of ${prefix} that the watch needed; list again and watch from there`, {cause})
    this.name = 'WatchCompactedError'
  }
}

// cockatiel's circuit breaker (one per etcd member) says "circuit breaker is open" and names no class.
const UNREACHABLE = /GRPCConnectFailed|GRPCUnavailable|DeadlineExceeded|BrokenCircuit|circuit breaker is open|ECONNREFUSED|No connection|UNAVAILABLE|deadline/i

// Of those, the failures where the call never left: no connection (grpc-js fails such a call at once), or a member's
// breaker open. A deadline that passed may have passed after etcd applied the call.
// (NotSentError: the HTTP/2 client's, for a call that failed before its connection was made.)
const NOT_SENT = /No connection established|ECONNREFUSED|BrokenCircuit|circuit breaker is open|NotSentError/i

// A TLS handshake that failed on a certificate: ours refused (revoked, another CA, none) or theirs untrusted.
// etcd itself sends no alert for a revoked certificate: it closes the connection after the handshake (range-client.ts says so).
const TLS_REFUSAL =
  /closed the connection before answering after the TLS handshake[^;]*|alert [a-z ]*certificate[a-z ]*|alert unknown ca|certificate (?:revoked|required|verify failed)|unable to verify[a-z ]*|self[- ]signed certificate[a-z ]*|Hostname\/IP does not match[^;.]*/i

/** Turn etcd3's errors into one line that names the endpoint and what to do. */
export function describeEtcdError(error: unknown, endpoints: string[]): Error {
  if (error instanceof EtcdBackendError) return error
  const text = `${(error as Error)?.name ?? ''} ${(error as Error)?.message ?? String(error)}`
  const tls = TLS_REFUSAL.exec(text)
  if (tls) {
    return new EtcdBackendError(
      'config',
      `etcd at ${endpoints.join(', ')} and ec do not accept each other's TLS certificates (${tls[0].trim()}); check --credentials (etcd.tls), or get a new bundle with "ec cluster credentials NAME" where the control plane runs`,
      {cause: error},
    )
  }

  if (UNREACHABLE.test(text)) {
    return new EtcdBackendError(
      'unavailable',
      `etcd at ${endpoints.join(', ')} does not answer; start a local control plane with "ec up" or set etcd.endpoints (EC_ETCD_ENDPOINTS)`,
      {cause: error, notApplied: NOT_SENT.test(text)},
    )
  }

  if (/auth|permission|password|user name/i.test(text)) {
    return new EtcdBackendError('config', `etcd at ${endpoints.join(', ')} refused ec's credentials: ${(error as Error).message}; check etcd.username and etcd.password`, {cause: error})
  }

  return new EtcdBackendError('failure', `etcd error: ${(error as Error)?.message ?? String(error)}`, {cause: error})
}
