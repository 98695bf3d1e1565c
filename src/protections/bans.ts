/**
 * Abuse signals and address bans, wired: the `abuse` core (`src/abuse/monitor.ts`) fed by live traffic, and the
 * bans it asks for enforced through the shared ban store (`src/store/bans.ts`), right after the access rules.
 *
 * Signals (per instance, in memory; a reload starts the counts afresh):
 * - `notFound`, `authFailures`: `onComplete` observes every answer's status per client address. Rampart's own ban
 *   and threat-block answers are not counted (they are the consequence, not new evidence).
 * - `detections`: the threat scan reports each request with matches (`observeDetection`).
 * - `distinctUsernames`: on the login routes of `lockout.logins`, the user-name field is read from the body the
 *   lockout buffers anyway (the plan's shared body-field step parses it once) and counted per address.
 *   `observeLogin(ip, username)` is there for any other caller that learns of a login attempt.
 * A signal is logged as an audit line (`type: "abuse"`, `audit: true`), counted
 * (`rampart_protection_events_total{protection="abuse",outcome=<signal>}`) and sent to the webhook. With `banFor`
 * the address is banned in the shared store (`RAMPART_ERR_ABUSE_BANNED` on the audit line), so every instance
 * refuses it with Rampart's 403 page until the ban ends.
 *
 * Fails: the ban lookup follows `store.onStoreError`: `open` lets the request through, `closed` refuses it with the
 * ban page. Each choice is logged as `RAMPART_ERR_STORE_UNAVAILABLE` with `failMode` and `action`, at most once
 * every `STORE_ERROR_LOG_MS` with the number of lines held back. A ban that cannot be stored is still enforced by
 * this instance (logged). Counting and alerting never refuse or delay a request.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import type { RampartConfig } from '../config/schema.js'
import type { Answer, Protection } from '../server/protection.js'
import type { Store } from '../store/types.js'
import { banStoreFor, type BanRecord, type BanStore } from '../store/bans.js'
import { createAbuseMonitor, type AbuseMonitor, type AbuseSignal } from '../abuse/monitor.js'
import { buildAbuseEvent } from '../alerts/event.js'
import { compileMatch, normalizePath, type Matcher } from '../limits/match.js'
import { bodyFieldStep } from './body-fields.js'
import { acquireAlertChannel, type AlertChannel } from './alerts.js'
import type { UpgradeCheck } from './access.js'
import { ERRORS } from '../errors.js'

/** Shortest interval between two store-error log lines of the ban check. */
export const STORE_ERROR_LOG_MS = 10_000

export interface BanContext {
  readonly logger: Logger
  readonly store: Store
  readonly metrics?: { protectionEvent(protection: string, outcome: string): void } | undefined
  /** Clock in ms; default `Date.now()`, read at call time so tests can fake `Date`. */
  readonly now?: () => number
}

/** The abuse state of one plan, shared by the ban protection and the threat scan. */
export interface AbuseWatch {
  readonly monitor: AbuseMonitor
  /** Set when some signal bans. */
  readonly bans: BanStore | undefined
  readonly channel: AlertChannel
  observeDetection(ip: string, site: string | undefined): void
  observeLogin(ip: string, username: string, site?: string): void
}

export interface BanCounters {
  /** Bans issued by this instance. */
  banned: number
  /** Requests refused because their address is banned. */
  refused: number
  storeErrors: number
  signals: Record<AbuseSignal['kind'], number>
}

export interface BanProtection extends Protection, UpgradeCheck {
  readonly watch: AbuseWatch
  readonly counters: Readonly<BanCounters>
  observeLogin(ip: string, username: string, site?: string): void
}

interface LoginRoute {
  readonly matches: Matcher
  readonly field: string
}

const BANNED: Answer = Object.freeze({ status: 403, body: '', page: true, code: 'RAMPART_ERR_ABUSE_BANNED' })
const SIGNALS = ['notFound', 'authFailures', 'distinctUsernames', 'detections'] as const

interface WatchEntry {
  readonly watch: AbuseWatch
  readonly counters: BanCounters
  readonly onSignal: (signal: AbuseSignal, site: string | undefined) => void
}

// One watch per plan (config object) and runtime (logger): the ban protection and the threat scan of a plan share it.
const watches = new WeakMap<RampartConfig, WeakMap<Logger, WatchEntry>>()

function anySignal(config: RampartConfig): boolean {
  return SIGNALS.some((k) => config.abuse[k].enabled)
}

function watchFor(config: RampartConfig, ctx: BanContext): WatchEntry | undefined {
  if (!anySignal(config)) return undefined
  let byLogger = watches.get(config)
  const known = byLogger?.get(ctx.logger)
  if (known) return known
  const { logger } = ctx
  const now = ctx.now ?? (() => Date.now())
  const event = (protection: string, outcome: string): void => ctx.metrics?.protectionEvent(protection, outcome)
  const banning = SIGNALS.some((k) => config.abuse[k].enabled && config.abuse[k].banFor !== undefined)
  const bans = banning ? banStoreFor(ctx.store, config.store) : undefined
  const channel = acquireAlertChannel(config, ctx)
  const counters: BanCounters = {
    banned: 0, refused: 0, storeErrors: 0, signals: { notFound: 0, authFailures: 0, distinctUsernames: 0, detections: 0 },
  }

  const onSignal = (signal: AbuseSignal, site: string | undefined): void => {
    counters.signals[signal.kind]++
    event('abuse', signal.kind)
    const alert = buildAbuseEvent({
      signal: signal.kind, ip: signal.ip, observed: signal.observed, windowMs: signal.windowMs, banMs: signal.banMs, at: signal.at,
    }, site)
    const banned = signal.banMs !== undefined && bans !== undefined
    const { time, ...fields } = alert
    logger.warn({ ...(banned ? { code: 'RAMPART_ERR_ABUSE_BANNED' } : {}), audit: true, ...fields, at: time },
      banned ? `abuse signal ${signal.kind}: address banned` : `abuse signal ${signal.kind}`)
    channel.send(alert)
    if (!banned) return
    bans.ban(signal.ip, signal.kind, signal.banMs!, signal.at).then((record) => {
      counters.banned++
      event('bans', 'banned')
      logger.info({ protection: 'bans', clientIp: signal.ip, reason: record.reason, remainingMs: record.remainingMs, store: bans.kind }, 'ban stored')
    }, (err: unknown) => {
      counters.storeErrors++
      event('bans', 'store-error')
      logger.warn({
        code: 'RAMPART_ERR_STORE_UNAVAILABLE', protection: 'bans', action: 'ban-kept-locally', clientIp: signal.ip,
        err: { message: (err as Error)?.message },
      }, `${ERRORS.RAMPART_ERR_STORE_UNAVAILABLE.message}: the ban holds on this instance only`)
    })
  }

  const monitor = createAbuseMonitor(config.abuse, {
    onHookError: (err) => logger.error({ code: 'RAMPART_ERR_LIFECYCLE_UNCAUGHT', protection: 'bans', err }, 'abuse signal hook failed'),
  })
  const watch: AbuseWatch = {
    monitor,
    bans,
    channel,
    observeDetection(ip, site) {
      const s = monitor.observeDetection(ip, now())
      if (s) onSignal(s, site)
    },
    observeLogin(ip, username, site) {
      const s = monitor.observeLogin(ip, username, now())
      if (s) onSignal(s, site)
    },
  }
  const entry: WatchEntry = { watch, counters, onSignal }
  if (byLogger === undefined) {
    byLogger = new WeakMap()
    watches.set(config, byLogger)
  }
  byLogger.set(logger, entry)
  return entry
}

/** The abuse watch of a plan, for the threat scan; undefined when every signal is off. */
export function abuseWatch(config: RampartConfig, ctx: BanContext): AbuseWatch | undefined {
  return watchFor(config, ctx)?.watch
}

export function compileBanProtection(config: RampartConfig, ctx: BanContext): BanProtection | undefined {
  const entry = watchFor(config, ctx)
  if (entry === undefined) return undefined
  const { watch, counters, onSignal } = entry
  const { logger } = ctx
  const now = ctx.now ?? (() => Date.now())
  const event = (outcome: string): void => ctx.metrics?.protectionEvent('bans', outcome)
  const bans = watch.bans
  const failMode = config.store.onStoreError
  const watchResponses = config.abuse.notFound.enabled || config.abuse.authFailures.enabled

  // Login routes whose user names feed `distinctUsernames` (the lockout's own routes).
  const logins: LoginRoute[] = config.abuse.distinctUsernames.enabled
    ? (config.lockout?.logins ?? []).map((l) => ({
        matches: compileMatch({ site: l.site, method: l.method, path: l.path, pathPrefix: l.pathPrefix }),
        field: l.username.slice('body.'.length),
      }))
    : []
  const loginMethods = new Set(config.lockout?.logins.map((l) => l.method.toUpperCase()) ?? [])
  const maxLoginBody = config.lockout?.maxBody ?? 0
  const loginOf = new WeakMap<FastifyRequest, LoginRoute>()
  const step = logins.length > 0 ? bodyFieldStep(config) : undefined

  let lastStoreLog = -Infinity
  let heldBack = 0
  const storeError = (request: FastifyRequest, err: unknown): Answer | undefined => {
    counters.storeErrors++
    event('store-error')
    const t = performance.now()
    if (t - lastStoreLog < STORE_ERROR_LOG_MS) {
      heldBack++
    } else {
      lastStoreLog = t
      logger.warn({
        code: 'RAMPART_ERR_STORE_UNAVAILABLE', protection: 'bans', failMode, action: failMode === 'closed' ? 'refuse' : 'pass',
        reqId: request.id, site: request.rampart.site.name, clientIp: request.rampart.clientIp, suppressed: heldBack,
        err: { message: (err as Error)?.message },
      }, ERRORS.RAMPART_ERR_STORE_UNAVAILABLE.message)
      heldBack = 0
    }
    return failMode === 'closed' ? BANNED : undefined
  }

  const refuse = (request: FastifyRequest, ban: BanRecord): Answer => {
    counters.refused++
    event('refused')
    logger.debug({ code: 'RAMPART_ERR_ABUSE_BANNED', reqId: request.id, clientIp: request.rampart.clientIp, reason: ban.reason, remainingMs: ban.remainingMs },
      ERRORS.RAMPART_ERR_ABUSE_BANNED.message)
    return BANNED
  }

  const checkBan = (request: FastifyRequest): Answer | undefined | Promise<Answer | undefined> => {
    const ip = request.rampart.clientIp
    let found: ReturnType<BanStore['lookup']>
    try {
      found = bans!.lookup(ip, now())
    } catch (err) {
      return storeError(request, err)
    }
    if (found instanceof Promise) {
      return found.then((ban) => (ban ? refuse(request, ban) : undefined), (err: unknown) => storeError(request, err))
    }
    return found ? refuse(request, found) : undefined
  }

  const markLogin = (request: FastifyRequest): void => {
    const method = request.raw.method ?? 'GET'
    if (!loginMethods.has(method)) return
    const st = request.rampart
    const path = normalizePath(st.path)
    for (const l of logins) {
      if (l.matches(st.site.name, method, path)) {
        loginOf.set(request, l)
        return
      }
    }
  }

  const protection: BanProtection = {
    name: 'bans',
    watch,
    counters,
    observeLogin: (ip, username, site) => watch.observeLogin(ip, username, site),
    checkUpgrade(info) {
      if (bans === undefined) return undefined
      const ban = bans.peek(info.clientIp, now())
      if (ban === undefined) return undefined
      counters.refused++
      event('refused')
      return 'RAMPART_ERR_ABUSE_BANNED'
    },
    describe: () => ({
      signals: Object.fromEntries(SIGNALS.map((k) => {
        const s = config.abuse[k]
        return [k, s.enabled ? `${s.count} per ${s.per} ms${s.banFor !== undefined ? `, ban ${s.banFor} ms` : ', alert only'}` : 'off']
      })),
      bans: bans === undefined ? 'off' : bans.kind,
      failMode: bans === undefined ? undefined : failMode,
      usernamesFrom: logins.length > 0 ? 'lockout login routes' : 'observeLogin() only',
      alerts: watch.channel.describe(),
    }),
    async close() {
      await watch.channel.release()
    },
  }

  // Only the stages this config needs: the gateway skips absent ones on its hot path.
  if (bans !== undefined || logins.length > 0) {
    protection.onRequest = (request) => {
      if (logins.length > 0) markLogin(request)
      return bans !== undefined ? checkBan(request) : undefined
    }
  }
  if (logins.length > 0) {
    protection.bodyLimit = (request) => (loginOf.has(request) ? maxLoginBody : 0)
    protection.onBody = (request, head, truncated) => {
      const login = loginOf.get(request)
      if (login === undefined) return undefined
      const st = request.rampart
      for (const name of step!.read(request, head, truncated).get(login.field) ?? []) watch.observeLogin(st.clientIp, name, st.site.name)
      return undefined
    }
  }
  if (watchResponses) {
    protection.onComplete = (request: FastifyRequest, reply: FastifyReply) => {
      const st = request.rampart as typeof request.rampart | null
      if (!st) return
      const code = st.errorCode
      if (code === 'RAMPART_ERR_ABUSE_BANNED' || code === 'RAMPART_ERR_THREAT_BLOCKED') return
      const s = watch.monitor.observeResponse(st.clientIp, reply.statusCode, now())
      if (s) onSignal(s, st.site.name)
    }
  }
  return protection
}
