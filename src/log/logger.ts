/**
 * The pino logger. JSON lines to stdout. Authorization, Cookie, Set-Cookie and password-like fields are redacted
 * wherever they appear in a logged object, as a safety net: the access log itself never logs headers or bodies.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino'

export const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]', 'headers.authorization', 'headers.cookie', 'headers["set-cookie"]',
  'authorization', 'cookie', '["set-cookie"]',
  'password', '*.password', '*.*.password', 'passwd', '*.passwd', 'body.password', 'fields.password',
]

export interface LoggerOptions {
  readonly level: LevelWithSilent
  /** Where lines go; stdout by default. Tests pass a stream to read them back. */
  readonly destination?: NodeJS.WritableStream
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false })
  return pino({
    level: options.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  }, destination)
}

export type { Logger }
