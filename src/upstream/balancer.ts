/**
 * Upstream target health and selection. Pure state machine: time comes from the caller, no sockets.
 *
 * - Passive health: `maxFails` consecutive connection-level failures eject a target for `ejectFor`; after that it
 *   is tried again (a success clears the count, another failure ejects it again).
 * - Active health: results of periodic checks (run by `health-checker.ts`) mark a target down after
 *   `unhealthyThreshold` failures in a row and up again after `healthyThreshold` successes in a row.
 * - Selection: round-robin or least in-flight requests, among targets that are neither ejected nor down. When
 *   none is available, `pick` returns undefined and the gateway answers 503.
 */

export type BalanceMode = 'round-robin' | 'least-connections'

export interface TargetState<T> {
  readonly target: T
  readonly label: string
  inFlight: number
  consecutiveFailures: number
  ejectedUntil: number
  /** Active-check verdict; true until checks say otherwise. */
  activeUp: boolean
  activeStreak: number
}

export interface BalancerOptions {
  readonly mode: BalanceMode
  readonly maxFails: number
  readonly ejectFor: number
  readonly healthyThreshold: number
  readonly unhealthyThreshold: number
}

export interface Balancer<T> {
  readonly states: ReadonlyArray<TargetState<T>>
  pick(now: number): TargetState<T> | undefined
  isAvailable(s: TargetState<T>, now: number): boolean
  anyAvailable(now: number): boolean
  /** A request to `s` failed at the connection level (refused, reset, connect timeout). */
  failure(s: TargetState<T>, now: number): boolean
  /** A request to `s` got a response. */
  success(s: TargetState<T>): void
  /** An active check finished. Returns true when the verdict changed. */
  activeResult(s: TargetState<T>, ok: boolean): boolean
}

export function createBalancer<T>(targets: ReadonlyArray<{ target: T; label: string }>, o: BalancerOptions): Balancer<T> {
  const states: Array<TargetState<T>> = targets.map(({ target, label }) => ({
    target, label, inFlight: 0, consecutiveFailures: 0, ejectedUntil: 0, activeUp: true, activeStreak: 0,
  }))
  let next = 0
  const isAvailable = (s: TargetState<T>, now: number): boolean => s.activeUp && s.ejectedUntil <= now
  return {
    states,
    isAvailable,
    anyAvailable: (now) => states.some((s) => isAvailable(s, now)),
    pick(now) {
      const n = states.length
      if (n === 1) return isAvailable(states[0]!, now) ? states[0] : undefined
      if (o.mode === 'least-connections') {
        let best: TargetState<T> | undefined
        for (let i = 0; i < n; i++) {
          // Start from a rotating index so ties are spread, not always the first target.
          const s = states[(next + i) % n]!
          if (isAvailable(s, now) && (!best || s.inFlight < best.inFlight)) best = s
        }
        next = (next + 1) % n
        return best
      }
      for (let i = 0; i < n; i++) {
        const s = states[next]!
        next = (next + 1) % n
        if (isAvailable(s, now)) return s
      }
      return undefined
    },
    failure(s, now) {
      s.consecutiveFailures++
      if (s.consecutiveFailures >= o.maxFails && s.ejectedUntil <= now) {
        s.ejectedUntil = now + o.ejectFor
        s.consecutiveFailures = 0
        return true
      }
      return false
    },
    success(s) {
      s.consecutiveFailures = 0
    },
    activeResult(s, ok) {
      if (ok === s.activeUp) {
        s.activeStreak = 0
        return false
      }
      s.activeStreak++
      const needed = ok ? o.healthyThreshold : o.unhealthyThreshold
      if (s.activeStreak >= needed) {
        s.activeUp = ok
        s.activeStreak = 0
        return true
      }
      return false
    },
  }
}
