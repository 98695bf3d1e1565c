/**
 * OWASP device cookies ("Slow Down Online Guessing Attacks with Device Cookies"): after a successful login the
 * browser gets a signed cookie naming a device id and bound to that account. While the account is locked for
 * unknown clients, a browser holding a valid cookie for it can still log in, within the device's own failure budget.
 *
 * Value: `v1.<id>.<expiry>.<mac>` — id: 128 random bits (base64url); expiry: seconds since the epoch (base 36);
 * mac: HMAC-SHA256 over version, id, expiry and the binding (login scope + hashed user name), base64url. The user
 * name itself is not in the cookie. Verification is constant-time and checks expiry against the caller's `now`.
 * The cookie is `HttpOnly; Secure; SameSite=Strict; Path=/` with `Max-Age`, and no Domain, so a `__Host-` name is valid.
 *
 * Pure, except that `issueDeviceCookie` draws a random id unless one is given (to keep a device's id on renewal).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

const VERSION = 'v1'
const ID = /^[A-Za-z0-9_-]{22}$/
const EXPIRY = /^[0-9a-z]{1,12}$/

export interface DeviceCookie {
  readonly id: string
  readonly value: string
  /** Absolute expiry, ms. */
  readonly expiresAt: number
}

/** What a cookie is bound to: the login scope and the hashed user name. */
export function deviceBinding(scope: string, accountHash: string): string {
  return `${scope}\u0000${accountHash}`
}

function mac(secret: string, id: string, expiry: string, binding: string): Buffer {
  return createHmac('sha256', secret).update(`${VERSION}.${id}.${expiry}.${binding}`).digest()
}

export function newDeviceId(): string {
  return randomBytes(16).toString('base64url')
}

export function issueDeviceCookie(secret: string, binding: string, now: number, ttlMs: number, id: string = newDeviceId()): DeviceCookie {
  const expiresAt = Math.floor((now + ttlMs) / 1000) * 1000
  const expiry = (expiresAt / 1000).toString(36)
  return { id, expiresAt, value: `${VERSION}.${id}.${expiry}.${mac(secret, id, expiry, binding).toString('base64url')}` }
}

/** The device id when `value` is a valid, unexpired cookie for `binding`; otherwise undefined. */
export function verifyDeviceCookie(secret: string, value: string | undefined, binding: string, now: number): string | undefined {
  if (value === undefined || value.length > 128) return undefined
  const parts = value.split('.')
  if (parts.length !== 4 || parts[0] !== VERSION) return undefined
  const [, id, expiry, sig] = parts as [string, string, string, string]
  if (!ID.test(id) || !EXPIRY.test(expiry)) return undefined
  if (parseInt(expiry, 36) * 1000 <= now) return undefined
  const given = Buffer.from(sig, 'base64url')
  const expected = mac(secret, id, expiry, binding)
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
  return id
}

/** The Set-Cookie value for a device cookie. */
export function serializeDeviceCookie(name: string, cookie: DeviceCookie, now: number): string {
  const maxAge = Math.max(0, Math.floor((cookie.expiresAt - now) / 1000))
  return `${name}=${cookie.value}; Path=/; Max-Age=${maxAge}; HttpOnly; Secure; SameSite=Strict`
}

/** Reads one cookie from a request `Cookie` header (first occurrence). Undefined when absent. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined
  let start = 0
  while (start < header.length) {
    let end = header.indexOf(';', start)
    if (end < 0) end = header.length
    const eq = header.indexOf('=', start)
    if (eq > start && eq < end && header.slice(start, eq).trim() === name) return header.slice(eq + 1, end).trim()
    start = end + 1
  }
  return undefined
}
