/**
 * Builds the protections of a plan from its config, in request order. One place decides the order:
 *   access rules → bans → rate limits → login lockout → threat scan → CSP report collector → response hardening.
 * Shared resources (the store, the alert sink) are passed in and outlive a reload.
 */
import type { Logger } from 'pino'
import type { RampartConfig } from '../config/schema.js'
import { protectionSet, type Protection, type ProtectionSet } from './protection.js'
import { compileHardening } from '../protections/hardening.js'
import { compileCspReports } from '../protections/csp-reports.js'
import { compileRateLimitProtection } from '../protections/rate-limits.js'
import { compileLockoutProtection } from '../protections/lockout.js'
import { compileAccessProtection } from '../protections/access.js'
import { compileBanProtection } from '../protections/bans.js'
import { compileThreatProtection } from '../protections/threats.js'
import type { HeaderPolicy } from '../headers/policy.js'
import type { Store } from '../store/types.js'
import type { Metrics } from '../metrics/registry.js'

export interface BuiltProtections {
  readonly set: ProtectionSet
  readonly headerPolicy: HeaderPolicy
  readonly warnings: readonly string[]
}

export interface ProtectionContext {
  readonly logger: Logger
  /** The shared store (memory or Redis), created by the runtime and kept across reloads. */
  readonly store: Store
  /** Prometheus counters: call `metrics.protectionEvent(name, outcome)` for each decision worth counting. */
  readonly metrics?: Metrics
}

export function buildProtections(config: RampartConfig, ctx: ProtectionContext): BuiltProtections {
  const hardening = compileHardening(config, ctx.logger)
  const csp = compileCspReports(config, ctx.logger, ctx.metrics)
  const list: Protection[] = [
    // access rules, then bans (a banned address is refused before anything else looks at it)
    ...[compileAccessProtection(config, ctx), compileBanProtection(config, ctx)].filter((p) => p !== undefined),
    // rate limits and login lockout (store-backed; absent sections compile to nothing), before hardening so that
    // the cookie rewriter sees the device cookie
    ...[compileRateLimitProtection(config, ctx), compileLockoutProtection(config, ctx)].filter((p) => p !== undefined),
    ...[compileThreatProtection(config, ctx)].filter((p) => p !== undefined),
    ...(csp ? [csp.protection] : []),
    hardening.protection,
  ]
  return { set: protectionSet(list), headerPolicy: hardening.policy, warnings: hardening.warnings }
}
