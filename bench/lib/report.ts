/**
 * Turns the rows of one benchmark run into ratios and a Markdown table. Pure.
 *
 * Contract: ratios are only ever taken between rows of the same run, because absolute numbers move a lot between
 * runs and machines while same-run ratios hold. "vs nginx" divides by the nginx row measured with the same load
 * client (HTTP/1.1 rows by the autocannon nginx row, HTTP/2 rows by the h2load one); "vs upstream" divides req/s by
 * the upstream-direct row. A missing denominator gives "n/a", never a made-up number.
 */
import type { LoadClient, LoadResult } from './load.js'

export type RowStatus = 'ok' | 'unavailable' | 'failed'

export interface Row {
  readonly id: string
  readonly name: string
  readonly client: LoadClient
  readonly role?: 'nginx' | 'upstream'
  /** What the load does: GET the page (default), or POST the login form. Ratios compare like with like. */
  readonly workload?: Workload
  readonly status: RowStatus
  /** Why a row is unavailable or failed. */
  readonly reason?: string
  readonly result?: LoadResult
  /** Facts about the target (versions) and anything odd seen while checking it. */
  readonly notes: readonly string[]
}

export interface Ratios {
  /** CPU µs/req of this row ÷ nginx's. Lower is cheaper. */
  readonly cpuVsNginx?: number
  /** req/s of this row ÷ nginx's. Higher is faster. */
  readonly rpsVsNginx?: number
  /** req/s of this row ÷ the upstream-direct row's. */
  readonly rpsVsUpstream?: number
}

export type Workload = 'page' | 'login'

const loadKey = (row: Row): string => `${row.client}|${row.workload ?? 'page'}`

export function computeRatios(rows: readonly Row[]): Map<string, Ratios> {
  const nginxBy = new Map<string, LoadResult>()
  let upstream: LoadResult | undefined
  for (const row of rows) {
    if (row.status !== 'ok' || row.result === undefined) continue
    if (row.role === 'nginx' && !nginxBy.has(loadKey(row))) nginxBy.set(loadKey(row), row.result)
    if (row.role === 'upstream' && upstream === undefined) upstream = row.result
  }
  const ratios = new Map<string, Ratios>()
  for (const row of rows) {
    const r = row.result
    if (row.status !== 'ok' || r === undefined) continue
    const nginx = nginxBy.get(loadKey(row))
    ratios.set(row.id, {
      ...(nginx !== undefined && nginx.cpuUsPerReq > 0 ? { cpuVsNginx: r.cpuUsPerReq / nginx.cpuUsPerReq } : {}),
      ...(nginx !== undefined && nginx.rps > 0 ? { rpsVsNginx: r.rps / nginx.rps } : {}),
      ...(upstream !== undefined && upstream.rps > 0 ? { rpsVsUpstream: r.rps / upstream.rps } : {}),
    })
  }
  return ratios
}

const ratio = (value: number | undefined): string => value === undefined ? 'n/a' : `${value.toFixed(2)}×`
const fixed = (value: number, digits: number): string => value.toFixed(digits)
// autocannon reports whole milliseconds; printing "4.00" would claim a precision it does not have.
const latency = (ms: number): string => Number.isInteger(ms) ? String(ms) : fixed(ms, ms < 10 ? 2 : 1)

/** Escapes the characters that would break a Markdown table cell. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ')
}

export const TABLE_COLUMNS = [
  'scenario', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'peak RSS MB', 'CPU vs nginx', 'req/s vs nginx', 'vs upstream',
] as const

export function formatTable(rows: readonly Row[], ratios: ReadonlyMap<string, Ratios>): string {
  const lines = [
    `| ${TABLE_COLUMNS.join(' | ')} |`,
    `|${TABLE_COLUMNS.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
  ]
  for (const row of rows) {
    const r = row.result
    if (row.status !== 'ok' || r === undefined) {
      const why = row.status === 'failed' ? `failed: ${row.reason ?? 'unknown error'}` : row.reason ?? 'unavailable'
      lines.push(`| ${cell(row.name)} | ${cell(why.length > 160 ? `${why.slice(0, 157)}...` : why)} |${' – |'.repeat(TABLE_COLUMNS.length - 2)}`)
      continue
    }
    const q = ratios.get(row.id) ?? {}
    lines.push(`| ${[
      cell(row.name),
      fixed(r.rps, 0),
      latency(r.p50Ms),
      latency(r.p99Ms),
      fixed(r.cpuUsPerReq, 1),
      fixed(r.peakRssBytes / (1024 * 1024), 1),
      ratio(q.cpuVsNginx),
      ratio(q.rpsVsNginx),
      ratio(q.rpsVsUpstream),
    ].join(' | ')} |`)
  }
  return lines.join('\n')
}

/** One line per problem worth a reader's attention: errors, non-2xx answers, failed checks. */
export function formatNotes(rows: readonly Row[]): string[] {
  const notes: string[] = []
  for (const row of rows) {
    const r = row.result
    if (r !== undefined && (r.errors > 0 || r.timeouts > 0 || r.non2xx > 0)) {
      notes.push(`${row.name}: ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx of ${r.requests} requests`)
    }
    if (row.status === 'failed' && row.reason !== undefined && row.reason.length > 160) {
      notes.push(`${row.name} failed: ${row.reason}`)
    }
    for (const note of row.notes) notes.push(`${row.name}: ${note}`)
  }
  return notes
}
