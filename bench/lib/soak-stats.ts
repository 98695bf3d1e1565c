/**
 * The soak's arithmetic and pass rules, pure: RSS trend over a series of samples, and the verdict of each mode.
 *
 * Contract: `rssTrend()` fits a least-squares line through the samples of the second half of the run (t ≥ end / 2)
 * and returns its slope in MB per minute, and the mean RSS of the first minute under load (0 < t ≤ 60 s) and of
 * the last minute (t ≥ end − 60 s). `soakFailures()` and `flatnessFailures()` return one sentence per broken rule,
 * empty when the run passes; the rules and their bounds are the exported constants below. The slope is judged only
 * when the second half spans `MIN_TREND_SPAN_MIN` or more: under load one garbage collection moves RSS by tens of
 * MB, so over a shorter span the slope measures where the last collection fell, not a leak.
 */
import type { UsageSample } from './soak-usage.js'

/** Soak: the RSS slope over the second half must not exceed this. */
export const MAX_SLOPE_MB_PER_MIN = 1
/** Shortest second half (minutes) whose slope is judged: runs of 4 minutes or more. */
export const MIN_TREND_SPAN_MIN = 2
/** Flatness: RSS after N requests may exceed RSS after N/5 by at most this factor … */
export const MAX_GROWTH_RATIO = 1.1
/** … and must stay under this absolute bound. */
export const MAX_RSS_MB = 150

export interface RssTrend {
  /** Least-squares slope over the second half, MB/min; undefined with fewer than two samples there. */
  readonly slopeMbPerMin: number | undefined
  /** Length of the second half, minutes. */
  readonly secondHalfMin: number
  readonly firstMinuteMeanMb: number | undefined
  readonly lastMinuteMeanMb: number | undefined
}

function mean(values: readonly number[]): number | undefined {
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0) / values.length
}

/** Least-squares slope of y over x; undefined when x does not vary. */
export function slope(points: ReadonlyArray<{ readonly x: number, readonly y: number }>): number | undefined {
  const mx = mean(points.map((p) => p.x))
  const my = mean(points.map((p) => p.y))
  if (mx === undefined || my === undefined) return undefined
  let num = 0
  let den = 0
  for (const p of points) {
    num += (p.x - mx) * (p.y - my)
    den += (p.x - mx) ** 2
  }
  return den === 0 ? undefined : num / den
}

export function rssTrend(samples: readonly UsageSample[]): RssTrend {
  const end = samples.at(-1)?.tSec ?? 0
  const secondHalf = samples.filter((s) => s.tSec >= end / 2)
  return {
    slopeMbPerMin: slope(secondHalf.map((s) => ({ x: s.tSec / 60, y: s.rssMb }))),
    secondHalfMin: end / 2 / 60,
    firstMinuteMeanMb: mean(samples.filter((s) => s.tSec > 0 && s.tSec <= 60).map((s) => s.rssMb)),
    lastMinuteMeanMb: mean(samples.filter((s) => s.tSec >= end - 60).map((s) => s.rssMb)),
  }
}

export interface Liveness {
  /** The Rampart process started for the run is still running (same pid). */
  readonly samePid: boolean
  /** It answered a final GET with the upstream's page. */
  readonly answering: boolean
}

function livenessFailures(live: Liveness): string[] {
  return [
    ...(live.samePid ? [] : ['Rampart exited during the run']),
    ...(live.answering ? [] : ['Rampart did not answer the final GET with the upstream page']),
  ]
}

export function soakFailures(live: Liveness, trend: RssTrend, redisKeysAfterLastRestart: number): string[] {
  const failures = livenessFailures(live)
  if (trend.secondHalfMin < MIN_TREND_SPAN_MIN) return failures
  if (trend.slopeMbPerMin === undefined) failures.push('too few RSS samples in the second half for a trend')
  else if (trend.slopeMbPerMin > MAX_SLOPE_MB_PER_MIN) {
    failures.push(`RSS grew ${trend.slopeMbPerMin.toFixed(2)} MB/min over the second half (bound ${MAX_SLOPE_MB_PER_MIN} MB/min)`)
  }
  if (redisKeysAfterLastRestart === 0) failures.push('Redis held no keys after its last restart: Rampart did not count there again')
  return failures
}

export interface Flatness {
  readonly target: number
  readonly completed: number
  readonly rssAtFifthMb: number | undefined
  readonly rssAtEndMb: number
}

export function flatnessFailures(live: Liveness, f: Flatness): string[] {
  const failures = livenessFailures(live)
  if (f.completed < f.target) failures.push(`only ${f.completed} of ${f.target} requests completed within the time limit`)
  if (f.rssAtFifthMb === undefined) failures.push(`never reached ${Math.floor(f.target / 5)} requests, no baseline RSS`)
  else if (f.rssAtEndMb > f.rssAtFifthMb * MAX_GROWTH_RATIO) {
    failures.push(`RSS after N (${f.rssAtEndMb.toFixed(1)} MB) exceeds RSS after N/5 (${f.rssAtFifthMb.toFixed(1)} MB) by more than ${((MAX_GROWTH_RATIO - 1) * 100).toFixed(0)} %`)
  }
  if (f.rssAtEndMb > MAX_RSS_MB) failures.push(`RSS after N is ${f.rssAtEndMb.toFixed(1)} MB (bound ${MAX_RSS_MB} MB)`)
  return failures
}
