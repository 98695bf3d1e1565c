/**
 * Writes access-log lines straight to the logger's destination, in exactly the logger's line format
 * (`{"level":"info","time":"…","pid":…,<fields>,"msg":"request"}`), without pino's per-line machinery.
 *
 * An access record is flat and made of known fields (strings, numbers, booleans): nothing in it can carry a secret,
 * so it needs no redaction, no serializers and no cycle-safe stringify. pino spent about 10 µs per line on those;
 * this costs about 1 µs (the format itself: `line-format.ts`).
 */
import { pino, type Logger } from 'pino'
import { formatLogLine, type LineValue } from './line-format.js'

export type AccessValue = LineValue

/** Writes one record as an info line with message `msg`, when the logger's level lets info lines through. */
export type AccessLineWriter = (record: Readonly<Record<string, AccessValue>>, msg: string) => void

interface LineDestination {
  write(line: string): unknown
}

export function accessLineWriter(logger: Logger): AccessLineWriter {
  const holder = logger as unknown as Record<symbol, unknown>
  const destination = holder[pino.symbols.streamSym] as LineDestination
  // The logger's bindings as pino writes them after the time (`,"pid":123`); a child's included.
  const bindings = String(holder[pino.symbols.chindingsSym] ?? '')
  return (record, msg) => {
    if (!logger.isLevelEnabled('info')) return
    destination.write(formatLogLine('info', bindings, record, msg))
  }
}
