import {EcError, type EcErrorOptions, type FailureReason, isReportable} from '@ec/plugin-api'

/** notApplied: the request certainly did not reach libvirt (no connection could be opened). */
export class LibvirtBackendError extends EcError {
  constructor(reason: FailureReason, message: string, options?: EcErrorOptions) {
    super(reason, message, options)
    this.name = 'LibvirtBackendError'
  }
}

/** The binding rejects with plain strings or errors without codes: messages are all there is to go on. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

// What libvirt says when the daemon went away under an open connection.
const CONNECTION_LOST =
  /client socket is closed|Cannot (write|recv|read) data|End of file while reading|Broken pipe|Connection reset|invalid connection pointer|not connected/i

export function isConnectionLost(error: unknown): boolean {
  return CONNECTION_LOST.test(messageOf(error))
}

export function isDomainNotFound(error: unknown): boolean {
  return /Domain not found|no domain with matching/i.test(messageOf(error))
}

/** Why a connection could not be opened: a URI no driver takes is the config's fault, anything else the daemon's. */
export function openFailure(uri: string, cause: unknown): LibvirtBackendError {
  if (/no connection driver available|unsupported URI|invalid URI|Unable to parse URI/i.test(messageOf(cause))) {
    return new LibvirtBackendError('config', `libvirt.uri ${uri} is not a URI libvirt can open (${messageOf(cause)}); set libvirt.uri (EC_LIBVIRT_URI)`, {
      cause,
      notApplied: true,
    })
  }

  return unavailable(uri, cause, {notApplied: true})
}

export function unavailable(uri: string, cause: unknown, options: {notApplied?: boolean} = {}): LibvirtBackendError {
  return new LibvirtBackendError(
    'unavailable',
    `libvirt at ${uri} does not answer (${messageOf(cause)}); start libvirtd ("libvirtd -d" without systemd) or set libvirt.uri (EC_LIBVIRT_URI)`,
    {cause, ...options},
  )
}

/** Wrap an unexpected libvirt failure in one line that says what ec was doing. */
export function libvirtFailure(doing: string, cause: unknown): Error {
  // Ours already (a LibvirtBackendError, or a shared service's EcError such as a PortTakenFailure): as it is.
  if (cause instanceof LibvirtBackendError || isReportable(cause)) return cause
  return new LibvirtBackendError('failure', `libvirt could not ${doing}: ${messageOf(cause)}`, {cause})
}
