/**
 * Active upstream health checks: for each site with `healthCheck`, every target gets a GET of `path` every
 * `interval`, through the target's own keep-alive pool, with the site's first host as Host. A check passes when the
 * status is in `expectStatus` within `timeout`. Verdict changes are logged and exported as a gauge; selection skips
 * targets that are down (see balancer.ts). Checks of one target never overlap; timers never keep the process alive.
 */
import type { Logger } from 'pino'
import type { Plan } from '../server/plan.js'
import type { Metrics } from '../metrics/registry.js'

export interface HealthChecker {
  stop(): void
  /** Runs one round of checks now (startup and tests). */
  checkNow(): Promise<void>
}

export function startHealthChecks(plan: Plan, logger: Logger, metrics?: Metrics): HealthChecker {
  const timers: NodeJS.Timeout[] = []
  const rounds: Array<() => Promise<void>> = []
  let stopped = false
  for (const site of plan.sites) {
    for (const s of site.balancer.states) metrics?.setUpstreamHealthy(site.name, s.label, true)
    const hc = site.config.healthCheck
    if (!hc) continue
    const host = site.hosts.find((h) => !h.startsWith('*.')) ?? site.hosts[0]!.slice(2)
    for (const state of site.balancer.states) {
      let running = false
      const check = async (): Promise<void> => {
        if (running || stopped) return
        running = true
        let ok = false
        let detail = ''
        try {
          const res = await state.target.pool.request({
            method: 'GET', path: hc.path, headers: { host, 'user-agent': 'rampart-health-check' },
            headersTimeout: hc.timeout, bodyTimeout: hc.timeout, signal: AbortSignal.timeout(hc.timeout),
          })
          await res.body.dump()
          ok = hc.expectStatus.includes(res.statusCode)
          detail = `status ${res.statusCode}`
        } catch (e) {
          detail = (e as NodeJS.ErrnoException).code ?? (e as Error).name
        } finally {
          running = false
        }
        if (stopped) return
        if (site.balancer.activeResult(state, ok)) {
          metrics?.setUpstreamHealthy(site.name, state.label, ok)
          logger[ok ? 'info' : 'warn']({ code: ok ? undefined : 'RAMPART_ERR_UPSTREAM_UNAVAILABLE', site: site.name, target: state.label, detail },
            ok ? 'upstream target is healthy again' : 'upstream target failed its health checks and is out of rotation')
        }
      }
      rounds.push(check)
      const timer = setInterval(() => void check(), hc.interval)
      timer.unref()
      timers.push(timer)
    }
  }
  return {
    stop() {
      stopped = true
      for (const t of timers) clearInterval(t)
    },
    async checkNow() {
      await Promise.all(rounds.map((r) => r()))
    },
  }
}
