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

/**
 * Lines are buffered (up to 8 KB) and flushed every 200 ms and at exit: one write per line would cost a system
 * call per request, which dominated the access log's cost. A line is therefore at most 200 ms late.
 */
export function createLogger(options: LoggerOptions): Logger {
  let destination = options.destination
  if (!destination) {
    const sonic = pino.destination({ dest: 1, sync: false, minLength: 8 * 1024 })
    const timer = setInterval(() => sonic.flush(), 200)
    timer.unref()
    process.once('exit', () => {
      try {
        sonic.flushSync()
      } catch { /* stdout already closed */ }
    })
    destination = sonic as unknown as NodeJS.WritableStream
  }
  return pino({
    level: options.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  }, destination)
}

export type { Logger }
