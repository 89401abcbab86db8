import type {Logger} from '@ec/plugin-api'

/** Timestamped lines for long-running processes (the agent, the metadata server). */
export function lineLogger(write: (line: string) => void, debug = false): Logger {
  const line = (level: string, message: string) => write(`${new Date().toISOString()} ${level} ${message}`)
  return {
    debug: (message) => debug && line('debug', message),
    info: (message) => line('info', message),
    warn: (message) => line('warn', message),
  }
}
