// ec's error base class and exit code table live in @ec/plugin-api, shared
// with every backend plugin; core's modules import them from here. The README
// documents the table; keep the two in step.
export {EcError, type EcErrorOptions, ExitCode, exitCodeOf, type FailureReason, isReportable, type ReportableError} from '@ec/plugin-api'
