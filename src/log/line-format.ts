/**
 * The logger's JSON line format, for lines written without pino (access lines, the sink's own warning): the same
 * keys in the same order as pino writes them. Fields whose value is undefined are left out, as pino does; a number
 * that is not finite is written as null, as JSON.stringify does.
 */

export type LineValue = string | number | boolean | undefined

/**
 * The line pino writes for `logger[level](record, msg)` with Rampart's logger options (level label, ISO time), for
 * a flat record. `bindings` is the logger's bindings as pino writes them after the time (`,"pid":123`). Keys are
 * written as they are: they are the record's own field names (identifiers), never input.
 */
export function formatLogLine(level: string, bindings: string, record: Readonly<Record<string, LineValue>>, msg: string): string {
  let line = `{"level":"${level}","time":"${isoNow()}"${bindings}`
  for (const key in record) {
    const value = record[key]
    switch (typeof value) {
      case 'undefined':
        continue
      case 'string':
        line += `,"${key}":${JSON.stringify(value)}`
        continue
      case 'number':
        line += `,"${key}":${Number.isFinite(value) ? String(value) : 'null'}`
        continue
      default:
        line += `,"${key}":${String(value)}`
    }
  }
  return `${line},"msg":${JSON.stringify(msg)}}\n`
}

let lastMs = 0
let lastIso = ''

/** The current time as an ISO string; lines written in the same millisecond share one. */
function isoNow(): string {
  const ms = Date.now()
  if (ms !== lastMs) {
    lastMs = ms
    lastIso = new Date(ms).toISOString()
  }
  return lastIso
}
