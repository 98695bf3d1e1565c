/**
 * The soak's Markdown summaries, one per mode, from plain result objects (pure: no I/O).
 *
 * Contract: `formatSoak()` and `formatFlatness()` return the whole summary: the RSS curve as numbers, answers by
 * status per protocol with errors and timeouts, whether Rampart stayed up, the trend or the flatness figures, what
 * Rampart logged, and a last line `PASS` or `FAIL` followed by every broken rule.
 */
import type { H1LoadResult } from './soak-autocannon.js'
import type { H2LoadResult } from './soak-h2.js'
import type { LogSummary } from './soak-log.js'
import type { Liveness, RssTrend } from './soak-stats.js'
import { MAX_GROWTH_RATIO, MAX_RSS_MB, MAX_SLOPE_MB_PER_MIN, MIN_TREND_SPAN_MIN } from './soak-stats.js'

export interface CurvePoint {
  readonly tSec: number
  readonly rssMb: number
  readonly cpuPct: number
  /** Requests answered so far, all protocols. */
  readonly answered: number
}

export interface ProtocolRow {
  readonly protocol: string
  readonly load: string
  readonly result: H1LoadResult | H2LoadResult
}

export interface SoakReport {
  readonly header: readonly string[]
  readonly curve: readonly CurvePoint[]
  readonly protocols: readonly ProtocolRow[]
  readonly redisEvents: ReadonlyArray<{ readonly event: string, readonly tSec: number }>
  readonly redisKeysAtEnd: number
  readonly live: Liveness
  readonly pid: number
  readonly trend: RssTrend
  readonly log: LogSummary
  readonly failures: readonly string[]
}

export interface FlatnessReport {
  readonly header: readonly string[]
  readonly curve: readonly CurvePoint[]
  readonly protocols: readonly ProtocolRow[]
  readonly target: number
  readonly rssAtFifthMb: number | undefined
  readonly rssAtEndMb: number
  readonly peakRssMb: number
  readonly cpuUsPerReq: number
  readonly redisCpuUsPerReq: number
  readonly live: Liveness
  readonly pid: number
  readonly log: LogSummary
  readonly failures: readonly string[]
}

const mb = (value: number | undefined): string => value === undefined ? 'n/a' : value.toFixed(1)

function curveTable(curve: readonly CurvePoint[]): string[] {
  return [
    '| t (s) | RSS (MB) | CPU (% of a core) | answered so far |',
    '| ---: | ---: | ---: | ---: |',
    ...curve.map((p) => `| ${p.tSec.toFixed(0)} | ${mb(p.rssMb)} | ${p.cpuPct.toFixed(0)} | ${p.answered} |`),
  ]
}

function answersTable(rows: readonly ProtocolRow[]): string[] {
  const statuses = [...new Set(rows.flatMap((r) => Object.keys(r.result.statusCounts)))].sort()
  const dropped = (r: H1LoadResult | H2LoadResult): string => 'dropped' in r ? String(r.dropped) : 'n/a'
  return [
    `| protocol | load | ${statuses.join(' | ')} | errors | of which timeouts | not sent (in-flight cap) | p50 / p99 ms |`,
    `| --- | --- | ${statuses.map(() => '---:').join(' | ')} | ---: | ---: | ---: | ---: |`,
    ...rows.map((r) => `| ${r.protocol} | ${r.load} | ${statuses.map((s) => String(r.result.statusCounts[s] ?? 0)).join(' | ')} | ` +
      `${r.result.errors + ('dropped' in r.result ? r.result.timeouts : 0)} | ${r.result.timeouts} | ${dropped(r.result)} | ${r.result.p50Ms} / ${r.result.p99Ms} |`),
  ]
}

function logLines(log: LogSummary): string[] {
  const levels = Object.entries(log.byLevel).map(([level, n]) => `${n} ${level}`).join(', ')
  const problems = Object.entries(log.problems).sort((a, b) => b[1] - a[1]).map(([what, n]) => `  - ${what}: ${n}`)
  return [
    `- ${log.lines} lines (${(log.bytes / 2 ** 20).toFixed(1)} MB): ${levels || 'none'}`,
    ...(problems.length === 0 ? ['- no warnings or errors'] : ['- warnings and errors by code:', ...problems]),
  ]
}

function liveLine(live: Liveness, pid: number): string {
  return `- Rampart stayed up: ${live.samePid && live.answering ? 'yes' : 'NO'} (pid ${pid} ${live.samePid ? 'still running' : 'exited'}, ` +
    `final GET ${live.answering ? 'answered with the upstream page' : 'failed'})`
}

function verdict(failures: readonly string[]): string[] {
  return failures.length === 0 ? ['', '**PASS**'] : ['', '**FAIL**', ...failures.map((f) => `- ${f}`)]
}

export function formatSoak(r: SoakReport): string {
  const signed = (v: number | undefined): string => v === undefined ? 'n/a' : `${v >= 0 ? '+' : ''}${v.toFixed(2)}`
  return [
    ...r.header, '',
    '### Rampart RSS and CPU', '', ...curveTable(r.curve), '',
    '### Answers', '', ...answersTable(r.protocols), '',
    '### Redis restarts', '',
    ...r.redisEvents.map((e) => `- ${e.tSec.toFixed(1)} s: ${e.event}`),
    `- keys in Redis at the end (counted after its last restart): ${r.redisKeysAtEnd}`, '',
    '### Rampart log', '', ...logLines(r.log), '',
    '### Verdict', '',
    liveLine(r.live, r.pid),
    `- RSS slope over the second half (${r.trend.secondHalfMin.toFixed(1)} min): ${signed(r.trend.slopeMbPerMin)} MB/min ` +
      (r.trend.secondHalfMin < MIN_TREND_SPAN_MIN
        ? `(not judged: the second half is shorter than ${MIN_TREND_SPAN_MIN} min, where one garbage collection outweighs a leak)`
        : `(bound ${MAX_SLOPE_MB_PER_MIN} MB/min)`),
    `- mean RSS, first minute under load: ${mb(r.trend.firstMinuteMeanMb)} MB; last minute: ${mb(r.trend.lastMinuteMeanMb)} MB`,
    ...verdict(r.failures),
  ].join('\n')
}

export function formatFlatness(r: FlatnessReport): string {
  const ratio = r.rssAtFifthMb === undefined || r.rssAtFifthMb === 0 ? 'n/a' : (r.rssAtEndMb / r.rssAtFifthMb).toFixed(3)
  return [
    ...r.header, '',
    '### Rampart RSS and CPU', '', ...curveTable(r.curve), '',
    '### Answers', '', ...answersTable(r.protocols), '',
    '### Rampart log', '', ...logLines(r.log), '',
    '### Verdict', '',
    liveLine(r.live, r.pid),
    `- RSS after ${Math.floor(r.target / 5)} requests (N/5): ${mb(r.rssAtFifthMb)} MB; after ${r.target} (N): ${mb(r.rssAtEndMb)} MB; ` +
      `ratio ${ratio} (bound ${MAX_GROWTH_RATIO.toFixed(2)}); peak ${mb(r.peakRssMb)} MB (bound after N: ${MAX_RSS_MB} MB)`,
    `- CPU per request: Rampart ${r.cpuUsPerReq.toFixed(1)} µs, its Redis ${r.redisCpuUsPerReq.toFixed(1)} µs`,
    ...verdict(r.failures),
  ].join('\n')
}
