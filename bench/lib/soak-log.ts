/**
 * What Rampart wrote during the soak, counted: lines per pino level, and for warnings and worse, lines per error
 * code (or message when there is no code), so the summary shows how the Redis restarts were reported.
 *
 * Contract: `summarizeLog(file)` streams the file line by line (it can be hundreds of MB of access log); a line
 * that is not JSON counts under level `text`. Returns zeros for a missing file.
 */
import { createReadStream, existsSync } from 'node:fs'
import { createInterface } from 'node:readline'

export interface LogSummary {
  lines: number
  bytes: number
  byLevel: Record<string, number>
  /** Warnings and worse, by `code` (or `msg`). */
  problems: Record<string, number>
}

/** pino levels by number; Rampart's logger writes the label, plain pino the number. */
const LEVELS: Readonly<Record<number, string>> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }
const PROBLEM_LEVELS = new Set(['warn', 'error', 'fatal'])

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1
}

export async function summarizeLog(file: string): Promise<LogSummary> {
  const summary: LogSummary = { lines: 0, bytes: 0, byLevel: {}, problems: {} }
  if (!existsSync(file)) return summary
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })
  for await (const line of lines) {
    summary.lines += 1
    summary.bytes += Buffer.byteLength(line) + 1
    let entry: { level?: unknown, code?: unknown, msg?: unknown } | undefined
    try {
      entry = JSON.parse(line) as typeof entry
    } catch {
      entry = undefined
    }
    const level = typeof entry?.level === 'number' ? LEVELS[entry.level] ?? String(entry.level) : entry?.level
    if (entry === undefined || typeof level !== 'string') {
      bump(summary.byLevel, 'text')
      continue
    }
    bump(summary.byLevel, level)
    if (PROBLEM_LEVELS.has(level)) bump(summary.problems, String(entry.code ?? entry.msg ?? 'no message'))
  }
  return summary
}
