/**
 * Audit events: the structured record of a detection or an abuse signal, as logged and as sent to the webhook.
 *
 * Contract: the builders are pure and total. Every free text that came from the client (path, parameter names,
 * excerpts) is escaped and truncated, so an event is safe to log, to render and to forward; no event ever carries a
 * whole body, a cookie value or a password (excerpts come from the engine, already redacted).
 * `alertKey(event)` is the throttling key: one source (client address) and one kind.
 */
import type { ThreatFamily, ThreatLocation, ThreatResult } from '../threats/types.js'
import { escapeText } from '../threats/excerpt.js'

export const MAX_EVENT_MATCHES = 8
const MAX_PATH = 256

export interface ThreatAlertEvent {
  readonly type: 'threat'
  /** ISO 8601. */
  readonly time: string
  readonly action: 'blocked' | 'detected'
  readonly clientIp: string
  readonly site: string | undefined
  readonly requestId: string | undefined
  readonly method: string | undefined
  readonly path: string
  readonly score: number
  readonly threshold: number
  readonly families: readonly ThreatFamily[]
  readonly ruleIds: readonly string[]
  readonly matches: ReadonlyArray<{
    readonly ruleId: string
    readonly family: ThreatFamily
    readonly location: ThreatLocation
    readonly param?: string
    readonly excerpt: string
  }>
  /** Matches left out of `matches` (over `MAX_EVENT_MATCHES`). */
  readonly moreMatches: number
  readonly truncated: boolean
  /** Set on a throttled summary: how many events of this source and kind this one stands for. */
  readonly count?: number
}

export type AbuseSignalKind = 'notFound' | 'authFailures' | 'distinctUsernames' | 'detections'

export interface AbuseAlertEvent {
  readonly type: 'abuse'
  readonly time: string
  readonly signal: AbuseSignalKind
  readonly clientIp: string
  readonly site: string | undefined
  /** Events seen within the window when the signal fired. */
  readonly observed: number
  readonly windowMs: number
  /** Present when the address was banned. */
  readonly bannedForMs?: number
  readonly count?: number
}

export type AlertEvent = ThreatAlertEvent | AbuseAlertEvent

export interface ThreatEventContext {
  readonly clientIp: string
  readonly site?: string | undefined
  readonly requestId?: string | undefined
  readonly method?: string | undefined
  /** Request path (raw); escaped and truncated here. */
  readonly path: string
  readonly threshold: number
  /** Epoch milliseconds. */
  readonly now: number
}

function clip(s: string, max: number): string {
  return escapeText(s.length > max ? `${s.slice(0, max)}…` : s)
}

export function buildThreatEvent(result: ThreatResult, ctx: ThreatEventContext): ThreatAlertEvent {
  const families: ThreatFamily[] = []
  for (const m of result.matches) if (!families.includes(m.family)) families.push(m.family)
  const shown = result.matches.slice(0, MAX_EVENT_MATCHES)
  return {
    type: 'threat',
    time: new Date(ctx.now).toISOString(),
    action: result.blocked ? 'blocked' : 'detected',
    clientIp: ctx.clientIp,
    site: ctx.site,
    requestId: ctx.requestId,
    method: ctx.method === undefined ? undefined : clip(ctx.method, 16),
    path: clip(ctx.path, MAX_PATH),
    score: result.score,
    threshold: ctx.threshold,
    families,
    ruleIds: result.matches.map((m) => m.ruleId),
    matches: shown.map((m) => ({
      ruleId: m.ruleId,
      family: m.family,
      location: m.location,
      ...(m.param !== undefined ? { param: m.param } : {}),
      excerpt: m.excerpt,
    })),
    moreMatches: result.matches.length - shown.length,
    truncated: result.truncated,
  }
}

export interface AbuseEventInput {
  readonly signal: AbuseSignalKind
  readonly ip: string
  readonly observed: number
  readonly windowMs: number
  readonly banMs?: number | undefined
  readonly at: number
}

export function buildAbuseEvent(input: AbuseEventInput, site?: string): AbuseAlertEvent {
  return {
    type: 'abuse',
    time: new Date(input.at).toISOString(),
    signal: input.signal,
    clientIp: input.ip,
    site,
    observed: input.observed,
    windowMs: input.windowMs,
    ...(input.banMs !== undefined ? { bannedForMs: input.banMs } : {}),
  }
}

/** Throttling key: one alert stream per client address and kind. */
export function alertKey(event: AlertEvent): string {
  return event.type === 'threat' ? `${event.clientIp}|threat|${event.action}` : `${event.clientIp}|abuse|${event.signal}`
}
