// Every failure ec reports on purpose carries a `reason`: a row of this exit
// code table. The message is one line that says what was wrong and what to do.
// ec's README documents the table; keep the two in step.
export const ExitCode = {
  ok: 0,
  failure: 1, // unexpected: a bug or an error nobody classified
  usage: 2, // bad flags or arguments (oclif's own parse errors use 2 too)
  config: 3, // the configuration file or environment is invalid, or the control plane refuses our credentials
  unavailable: 4, // a service ec needs does not answer
  conflict: 5, // the thing exists already, or lost a race
  notFound: 6,
  noCapacity: 7, // no host can take the request
  missingDependency: 8, // a binary or system package is not installed
  environment: 9, // the machine is in the way: a port in use, a directory not writable
  serviceFailed: 10, // a service ec started exited or never became healthy
  instanceFailed: 11, // the instance ended in ERROR; its record says why
  inconsistent: 12, // ec audit found inconsistencies (left after --repair)
} as const

export type FailureReason = Exclude<keyof typeof ExitCode, 'ok'>

export interface EcErrorOptions {
  cause?: unknown
  /** Extra lines printed under the one-line message (e.g. the tail of a log). */
  details?: string
  /** The request certainly had no effect (e.g. the connection was refused). */
  notApplied?: boolean
}

/**
 * The error base class of ec and its plugins: a one-line message, a `reason`
 * from the exit code table and, across a backend contract, whether the
 * request certainly had no effect. Backends subclass it (EtcdBackendError,
 * …). Core never relies on `instanceof` (a plugin may bring its own copy of
 * this package): it reads `reason` (see isReportable).
 */
export class EcError extends Error {
  readonly reason: FailureReason
  readonly details?: string
  /**
   * True when the request certainly had no effect (the connection was
   * refused), so the caller need not undo it. Absent means "unknown".
   */
  notApplied?: boolean

  constructor(reason: FailureReason, message: string, options: EcErrorOptions = {}) {
    super(message, {cause: options.cause})
    this.name = 'EcError'
    this.reason = reason
    this.details = options.details
    if (options.notApplied) this.notApplied = true
  }

  get exitCode(): number {
    return ExitCode[this.reason]
  }
}

/**
 * What core accepts from a backend: any Error with a `reason` (an EcError
 * is one). The message is one line that says what was wrong and what to do.
 */
export interface BackendError extends Error {
  reason: FailureReason
  /**
   * True when the request certainly had no effect (the connection was
   * refused), so the caller need not undo it. Absent means "unknown".
   */
  notApplied?: boolean
}

export interface ReportableError extends Error {
  reason: FailureReason
  details?: string
}

/**
 * Backends live in other packages and may not share this EcError class, so
 * the contract is structural (see BackendError): any error whose `reason`
 * names a row of the ExitCode table is reported as it is, with that row's
 * exit code.
 */
export function isReportable(error: unknown): error is ReportableError {
  const reason = (error as {reason?: unknown} | undefined)?.reason
  return error instanceof Error && typeof reason === 'string' && reason !== 'ok' && Object.hasOwn(ExitCode, reason)
}

export function exitCodeOf(error: ReportableError): number {
  return ExitCode[error.reason]
}

/** The message of anything thrown (libraries reject with strings, too). */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
