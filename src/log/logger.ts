/**
 * The pino logger. JSON lines to stdout. Authorization, Cookie, Set-Cookie and password-like fields are redacted
 * wherever they appear in a logged object, as a safety net: the access log itself never logs headers or bodies.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino'
import { LineSink } from './line-sink.js'
import { formatLogLine } from './line-format.js'
import { ERRORS } from '../errors.js'

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
 * Lines are queued and written in batches off the request path (see `LineSink`): one write per line would cost a
 * system call per request. A line is at most 200 ms late; everything queued is written at exit.
 */
export function createLogger(options: LoggerOptions): Logger {
  let destination = options.destination
  if (!destination) {
    const sink = new LineSink(1, { droppedLine: droppedLogLine })
    process.once('exit', () => sink.flushSync())
    destination = sink as unknown as NodeJS.WritableStream
  }
  return pino({
    level: options.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  }, destination)
}

/** The warning a sink writes after dropping lines, in the logger's own line format. */
function droppedLogLine(dropped: number): string {
  return formatLogLine('warn', `,"pid":${process.pid}`, { code: 'RAMPART_ERR_LOG_DROPPED', dropped }, ERRORS.RAMPART_ERR_LOG_DROPPED.message)
}

export type { Logger }
