/**
 * The rate-limit algorithm: a sliding window approximated with two counters.
 *
 * Why this one. A fixed window lets a client send `limit` requests at the end of one window and `limit` more at the
 * start of the next: twice the limit within a second. Two algorithms avoid that while keeping O(1) state:
 * - GCRA (a token bucket without a timer) is exact about the sustained rate, but "3 per 1h" means a burst of 3 and
 *   then one every 20 minutes: 5 in the first hour. Operators write limits like "3 password-reset mails per hour"
 *   and read them as "about 3 in any hour".
 * - The sliding window keeps the count of the current fixed window and of the previous one and weighs the previous
 *   count by how much of it still overlaps the sliding window:
 *       estimate = previous × (window − elapsed) / window + current
 *   A request is allowed when `estimate + 1 ≤ limit`. There is no double burst at the edge (the previous window
 *   still weighs fully at the boundary): in any span of `d` ms at most `limit + limit·d/per` requests pass
 *   (property-tested). The estimate assumes the previous window's requests were spread evenly, so it errs a little
 *   either way: a client sending at almost exactly the limit rate is refused now and then; one at half the rate
 *   or slower never is (property-tested).
 * We use the sliding window. Its two counters map directly onto the IETF `RateLimit` fields (`r` = remaining, `t` =
 * seconds until more quota frees up), and both backends hold it as one small hash with one TTL.
 *
 * Refused requests are not counted: a client that keeps retrying recovers as soon as its earlier requests age out,
 * and shadow mode counts exactly what enforce mode would.
 *
 * Reservations. `want > 1` asks for several requests' worth at once (a local allowance, `./allowance.ts`): as many as
 * fit are granted, `min(want, floor(limit − estimate))`, and counted like that many requests. With `want = 1` this is
 * exactly the single-request rule above.
 *
 * Pure. The Redis backend runs the same arithmetic in Lua (`src/store/lua.ts`); `test/store/behaviour.test.ts` runs
 * one table against both, so any divergence fails.
 */

/** What a backend keeps per limit and subject. `w` is the index of the current window (`floor(now / window)`). */
export interface WindowState {
  readonly w: number
  readonly c: number
  readonly p: number
}

export interface WindowDecision {
  readonly allowed: boolean
  /** Requests granted and counted: 0 when refused, else 1 to `want`. */
  readonly granted: number
  /** Requests still allowed right now (after this one, when it was allowed). */
  readonly remaining: number
  /** Milliseconds until one more request is allowed than now (`remaining` grows by one). With `remaining` 0 this is the Retry-After. */
  readonly resetMs: number
  /** State to store; `undefined` when nothing changed (a refused request). */
  readonly next: WindowState | undefined
  /** Absolute time (ms, caller's clock) after which the stored state is useless: the end of the next window. */
  readonly expiresAt: number
}

/**
 * Decides one request. `state` is what the backend holds (or undefined). `now` is the caller's clock in ms.
 *
 * Clock skew: when another instance, whose clock runs ahead, already moved the state into a later window, we stay in
 * that window and treat it as just begun (the previous window weighs fully). Skew can only make us stricter.
 */
export function slidingWindowDecide(state: WindowState | undefined, limit: number, windowMs: number, now: number, want = 1): WindowDecision {
  let idx = Math.floor(now / windowMs)
  let c = 0
  let p = 0
  let elapsed = now - idx * windowMs
  if (state !== undefined) {
    if (state.w > idx) {
      idx = state.w
      elapsed = 0
      c = state.c
      p = state.p
    } else if (state.w === idx) {
      c = state.c
      p = state.p
    } else if (state.w === idx - 1) {
      p = state.c
    }
  }
  const estimate = (p * (windowMs - elapsed)) / windowMs + c
  let granted = Math.min(want, Math.floor(limit - estimate))
  if (granted < 0) granted = 0
  const allowed = granted >= 1
  let after = estimate
  let next: WindowState | undefined
  if (allowed) {
    c += granted
    after = estimate + granted
    next = { w: idx, c, p }
  }
  let remaining = Math.floor(limit - after)
  if (remaining < 0) remaining = 0
  let target = limit - remaining - 1
  if (target < 0) target = 0
  return {
    allowed,
    granted,
    remaining,
    resetMs: waitUntilAtMost(p, c, elapsed, windowMs, target),
    next,
    expiresAt: (idx + 2) * windowMs,
  }
}

/**
 * Milliseconds (rounded up) until `estimate ≤ target`, with no new requests. Within the current window the estimate
 * falls as the previous window's weight falls; if the current count alone exceeds `target`, we must wait for the next
 * window, where the current count becomes the previous one and decays in turn.
 */
export function waitUntilAtMost(p: number, c: number, elapsed: number, windowMs: number, target: number): number {
  if (c <= target) {
    if (p === 0) return 0
    const at = windowMs - ((target - c) * windowMs) / p
    if (at <= elapsed) return 0
    return Math.ceil(at - elapsed)
  }
  const at = windowMs - (target * windowMs) / c
  return Math.ceil(windowMs - elapsed + at)
}
