// oclif reports a parse failure (unknown flag, missing value, bad integer,
// missing argument) in several lines — colours, a list of arguments, "See more
// help with --help". ec reports every failure in one line, so a parse failure
// becomes one EcError: what was wrong, then where the usage is.
import {EcError, type FailureReason, isReportable} from '../errors.js'

// eslint-disable-next-line no-control-regex -- matching ESC is the point
const ANSI = /\u001B\[[\d;]*m/g

/** One-line usage error for whatever `this.parse()` threw; `command` is e.g. "ec instance create". */
export function parseFailure(error: unknown, command: string): EcError {
  const reason: FailureReason = isReportable(error) ? error.reason : 'usage'
  return new EcError(reason, `${describe(error)} (see ${command} --help)`, {cause: error})
}

function describe(error: unknown): string {
  const missing = missingArguments(error)
  if (missing) return missing
  const text = (error instanceof Error ? error.message : String(error))
    .replaceAll(ANSI, '')
    // A flag's own parse function failed: oclif wraps its message as "Parsing --x \n\t<message>".
    .replace(/^Parsing --\S+\s*\n\t/, '')
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !/^See more help with --help$/.test(line) && !/^The following errors? occurred:$/.test(line))
  const line = lines.join('; ').replace(/^Nonexistent flags?:/, (m) => (m.endsWith('s:') ? 'unknown flags:' : 'unknown flag:'))
  return /^[A-Z][a-z]/.test(line) ? line[0].toLowerCase() + line.slice(1) : line || 'the command line could not be parsed'
}

/** oclif's RequiredArgsError lists each missing argument with its description; the names suffice. */
function missingArguments(error: unknown): string | undefined {
  const args = (error as {args?: unknown}).args
  if (!(error instanceof Error) || !/^Missing \d+ required arg/.test(error.message) || !Array.isArray(args)) return undefined
  const names = args.map((arg: {name?: string}) => (arg.name ?? '?').toUpperCase())
  return `missing argument${names.length === 1 ? '' : 's'} ${names.join(', ')}`
}
