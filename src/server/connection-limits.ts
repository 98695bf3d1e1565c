/**
 * Connection caps: how many client connections one listener holds open, in total and per client address.
 *
 * Contract: `admit(key)` for each new connection, before any TLS or HTTP work. It either refuses (saying which
 * cap was full) or admits and hands back a `release` to call when the connection closes. `release` is idempotent,
 * so a socket that reports both 'close' and an error cannot free a slot twice. A key's entry is deleted when its
 * count returns to zero: the map holds only addresses that have a connection open, whatever went before.
 * `exempt` connections (a trusted load balancer) count towards the total only.
 *
 * Pure: no sockets, no timers. The listener wiring lives in tls-server.ts.
 */

export interface ConnectionCaps {
  /** Open connections allowed in total. */
  readonly total: number
  /** Open connections allowed from one key (client address). */
  readonly perKey: number
}

export type ConnectionCap = 'total' | 'per-ip'

export type Admission =
  | { readonly ok: true; readonly release: () => void }
  | { readonly ok: false; readonly cap: ConnectionCap }

export class ConnectionLimiter {
  readonly #caps: ConnectionCaps
  readonly #perKey = new Map<string, number>()
  #total = 0

  constructor(caps: ConnectionCaps) {
    this.#caps = caps
  }

  admit(key: string, exempt = false): Admission {
    if (this.#total >= this.#caps.total) return { ok: false, cap: 'total' }
    const held = this.#perKey.get(key) ?? 0
    if (!exempt && held >= this.#caps.perKey) return { ok: false, cap: 'per-ip' }
    this.#total++
    if (!exempt) this.#perKey.set(key, held + 1)
    let released = false
    return {
      ok: true,
      release: () => {
        if (released) return
        released = true
        this.#total--
        if (exempt) return
        const left = (this.#perKey.get(key) ?? 1) - 1
        if (left === 0) this.#perKey.delete(key)
        else this.#perKey.set(key, left)
      },
    }
  }

  /** Connections open now. */
  get total(): number {
    return this.#total
  }

  /** Connections open now from `key` (exempt ones are not counted per key). */
  countOf(key: string): number {
    return this.#perKey.get(key) ?? 0
  }

  /** Keys with at least one connection open: the size of the per-address map. */
  get trackedKeys(): number {
    return this.#perKey.size
  }
}
