/**
 * Structured audit events of the login lockout, and a tiny hub that delivers them to listeners (the pino audit
 * log, Prometheus counters, the alert webhook).
 *
 * Contract: every failed login, lockout, attempt refused by a lock, ambiguous login, unlock and store error yields
 * one event. User names appear only hashed (`account`); no password, cookie or device-cookie value ever appears.
 * Listeners run synchronously in registration order; one that throws is isolated and does not stop the others or
 * the request.
 */
import type { DenyReason } from './policy.js'
import type { LockKind } from '../store/types.js'

interface Base {
  /** Caller clock, ms. */
  readonly time: number
  /** Login scope: site name or `all`. */
  readonly scope: string
  /** False in shadow mode: the event describes what enforce mode would have done. */
  readonly enforced: boolean
}

export type LockoutAuditEvent =
  | (Base & { readonly type: 'login.success'; readonly account: string; readonly ip: string; readonly via: 'device' | 'account' })
  | (Base & {
    readonly type: 'login.failure'; readonly account: string; readonly ip: string; readonly via: 'device' | 'account'
    readonly accountFailures: number; readonly ipFailures: number; readonly deviceFailures: number
  })
  | (Base & {
    readonly type: 'login.lockout'; readonly kind: LockKind; readonly account: string | undefined; readonly ip: string
    readonly until: number; readonly durationMs: number; readonly level: number
  })
  | (Base & {
    readonly type: 'login.locked-attempt'; readonly code: 'RAMPART_ERR_LOCKOUT_LOCKED'; readonly account: string
    readonly ip: string; readonly reason: DenyReason | 'ambiguous'; readonly retryAfterMs: number
  })
  | (Base & { readonly type: 'login.unlock'; readonly kind: LockKind; readonly subject: string; readonly by: string })
  | (Base & {
    readonly type: 'login.store-error'; readonly code: 'RAMPART_ERR_STORE_UNAVAILABLE'; readonly op: 'check' | 'record'
    readonly account: string; readonly ip: string; readonly failMode: 'open' | 'closed'; readonly applied: 'proceed' | 'refuse' | 'not-counted'
    readonly message: string
  })

export type AuditListener = (event: LockoutAuditEvent) => void

export interface AuditHub {
  on(listener: AuditListener): () => void
  emit(event: LockoutAuditEvent): void
  /** Listener errors so far (a broken metrics hook must be visible somewhere). */
  readonly listenerErrors: number
}

export function createAuditHub(): AuditHub {
  const listeners: AuditListener[] = []
  let listenerErrors = 0
  return {
    on(listener) {
      listeners.push(listener)
      return () => {
        const i = listeners.indexOf(listener)
        if (i >= 0) listeners.splice(i, 1)
      }
    },
    emit(event) {
      for (const l of listeners) {
        try {
          l(event)
        } catch {
          listenerErrors++
        }
      }
    },
    get listenerErrors() {
      return listenerErrors
    },
  }
}
