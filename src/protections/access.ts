/**
 * Access rules, wired: the `access` core (`src/access/rules.ts`) applied to live requests, first of all protections.
 *
 * Per request, `onRequest` checks the client address (`request.rampart.clientIp`: the socket peer, or the address
 * a trusted proxy forwarded; a spoofed X-Forwarded-For from any other peer is ignored by the gateway) against the
 * rules of the request's site and its canonical path (`normalizePathForMatching`, so `/%61dmin`, `//admin` and
 * `/x/../admin` are `/admin`). A refused request gets Rampart's 403 page (`RAMPART_ERR_ACCESS_DENIED`) carrying the
 * request id and is never proxied; the refusal is logged with the deciding rule and counted
 * (`rampart_protection_events_total{protection="access",outcome="denied"}`).
 *
 * Fails closed, and cannot fail otherwise: the check is a pure lookup in CIDR sets compiled at startup. An address
 * that does not parse matches no CIDR, so an allow list refuses it.
 *
 * WebSocket upgrades bypass the protection stages; `upgradeGate(state)` gives `handleUpgrade` the same decision
 * (and the ban check, see `./bans.ts`) for the plan in force at the time of each upgrade.
 */
import type { FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import type { RampartConfig } from '../config/schema.js'
import type { Answer, Protection } from '../server/protection.js'
import type { GatewayState } from '../server/gateway.js'
import type { UpgradeGate } from '../proxy/websocket.js'
import { compileAccessRules, type AccessChecker } from '../access/rules.js'
import { siteName } from '../server/plan.js'
import { escapeText } from '../threats/excerpt.js'
import { ERRORS, type ErrorCode } from '../errors.js'

export interface UpgradeInfo {
  readonly siteIndex: number
  readonly path: string
  readonly clientIp: string
}

/** A protection that also applies to WebSocket upgrades. */
export interface UpgradeCheck {
  checkUpgrade(info: UpgradeInfo): ErrorCode | undefined
}

export interface AccessProtection extends Protection, UpgradeCheck {
  readonly checker: AccessChecker
}

export interface AccessContext {
  readonly logger: Logger
  readonly metrics?: { protectionEvent(protection: string, outcome: string): void } | undefined
}

const DENIED: Answer = Object.freeze({ status: 403, body: '', page: true, code: 'RAMPART_ERR_ACCESS_DENIED' })
const MAX_LOGGED_PATH = 256

export function compileAccessProtection(config: RampartConfig, ctx: AccessContext): AccessProtection | undefined {
  if (config.access.length === 0) return undefined
  const { logger } = ctx
  const sites = config.sites.map((s) => ({ name: siteName(s), hosts: s.hosts }))
  const checker = compileAccessRules(config.access, sites)
  let denied = 0

  const deny = (rule: string | undefined, info: Record<string, unknown>): void => {
    denied++
    ctx.metrics?.protectionEvent('access', 'denied')
    logger.info({ code: 'RAMPART_ERR_ACCESS_DENIED', rule, ...info }, ERRORS.RAMPART_ERR_ACCESS_DENIED.message)
  }

  return {
    name: 'access',
    checker,
    onRequest(request: FastifyRequest) {
      const st = request.rampart
      const d = checker.check(st.site.index, st.path, st.clientIp)
      if (d.allowed) return undefined
      deny(d.name, {
        reqId: request.id, site: st.site.name, clientIp: st.clientIp, remoteIp: st.remoteIp,
        path: escapeText(st.path.length > MAX_LOGGED_PATH ? `${st.path.slice(0, MAX_LOGGED_PATH)}…` : st.path),
      })
      return DENIED
    },
    checkUpgrade(info) {
      const d = checker.check(info.siteIndex, info.path, info.clientIp)
      if (d.allowed) return undefined
      deny(d.name, { upgrade: true, clientIp: info.clientIp, siteIndex: info.siteIndex })
      return 'RAMPART_ERR_ACCESS_DENIED'
    },
    describe: () => ({
      rules: config.access.map((r, i) => `${r.name ?? `access[${i}]`}: ${r.site ?? '*'} ${r.pathPrefix}` +
        `${r.allow ? ` allow ${r.allow.length}` : ''}${r.deny ? ` deny ${r.deny.length}` : ''}`),
      failMode: 'closed',
      denied,
    }),
  }
}

/**
 * The upgrade gate for `handleUpgrade`: every protection of the current plan that implements `checkUpgrade`
 * (access rules, bans) is asked in plan order; the first refusal wins. Reads `state.plan` per upgrade, so a reload
 * applies to upgrades at once.
 */
export function upgradeGate(state: GatewayState): UpgradeGate {
  return {
    check(info) {
      for (const p of state.plan.protections.all) {
        const check = (p as Partial<UpgradeCheck>).checkUpgrade
        if (check === undefined) continue
        const code = check.call(p, info)
        if (code !== undefined) return code
      }
      return undefined
    },
  }
}
