/**
 * Store key names and subject hashing.
 *
 * Contract: every key is `<prefix>:<protection>:<name>:<subject>`. In Redis Cluster mode one part is wrapped in a
 * hash tag (`{...}`) so that all keys one decision touches hash to the same slot, which a Lua script requires:
 * - rate limits tag the subject (`rampart:ratelimit:per-ip:{192.0.2.1}`): one key per decision, and the keys of busy
 *   limits spread over every node;
 * - the lockout tags its scope (`rampart:lockout:{club}:acct:...`): one decision touches the account, the client
 *   address and the device of one login scope together. Login traffic is small next to page traffic, so one slot per
 *   scope is not a hot spot.
 * Standalone and Sentinel keys carry no braces.
 *
 * Subjects that are personal data (user names, e-mail addresses, API keys, any header or body value) are hashed:
 * HMAC-SHA256 with `store.keySecret`, or plain SHA-256 when no secret is set, truncated to 128 bits (base64url, 22
 * characters). With a secret, someone who reads Redis cannot test guesses against the keys; without one, a dictionary
 * of likely e-mail addresses can be checked, so production setups should set `keySecret`. Client addresses stay in
 * clear text: operators need them to unlock and to read `rampart unlock --list`, and they are already in access logs.
 * IPv6 clients are grouped by /64, the smallest block a subscriber is normally given.
 *
 * Pure: no I/O (node:crypto only).
 */
import { createHash, createHmac } from 'node:crypto'
import { isCanonicalIpv4, parseIp } from '../net/cidr.js'

export type Protection = 'ratelimit' | 'lockout'

export interface KeyLayout {
  /** First key segment, `rampart` by default. */
  readonly prefix: string
  /** Wrap the slot-defining part in `{...}` (Redis Cluster). */
  readonly hashTags: boolean
}

/** Which part of a key a protection's decisions share: see the module header. */
const TAG_ON: Record<Protection, 'name' | 'subject'> = { ratelimit: 'subject', lockout: 'name' }

export function makeKey(layout: KeyLayout, protection: Protection, name: string, subject: string): string {
  if (!layout.hashTags) return `${layout.prefix}:${protection}:${name}:${subject}`
  return TAG_ON[protection] === 'subject'
    ? `${layout.prefix}:${protection}:${name}:{${subject}}`
    : `${layout.prefix}:${protection}:{${name}}:${subject}`
}

export interface ParsedKey {
  readonly protection: Protection
  readonly name: string
  readonly subject: string
}

/** Inverse of `makeKey`, for listings. Undefined for keys Rampart did not write. */
export function parseKey(layout: KeyLayout, key: string): ParsedKey | undefined {
  const head = `${layout.prefix}:`
  if (!key.startsWith(head)) return undefined
  const rest = key.slice(head.length)
  const c1 = rest.indexOf(':')
  if (c1 < 0) return undefined
  const protection = rest.slice(0, c1)
  if (protection !== 'ratelimit' && protection !== 'lockout') return undefined
  const afterProtection = rest.slice(c1 + 1)
  let name: string
  let subject: string
  if (afterProtection.startsWith('{')) {
    const close = afterProtection.indexOf('}:')
    if (close < 0) return undefined
    name = afterProtection.slice(1, close)
    subject = afterProtection.slice(close + 2)
  } else {
    const c2 = afterProtection.indexOf(':')
    if (c2 < 0) return undefined
    name = afterProtection.slice(0, c2)
    subject = afterProtection.slice(c2 + 1)
  }
  if (subject.startsWith('{') && subject.endsWith('}')) subject = subject.slice(1, -1)
  if (!name || !subject) return undefined
  return { protection, name, subject }
}

/** 128-bit base64url digest of a personal value. Same input and secret, same output, on every instance. */
export function hashSubject(secret: string | undefined, value: string): string {
  const digest = secret
    ? createHmac('sha256', secret).update(value).digest()
    : createHash('sha256').update(value).digest()
  return digest.subarray(0, 16).toString('base64url')
}

/**
 * The subject for a client address: IPv4 as is, IPv4-mapped IPv6 as IPv4, other IPv6 as its /64
 * (`2001:db8:1:2::/64`). An unparsable address (which the listener should never hand over) is hashed so that it can
 * never inject key syntax.
 */
export function ipSubject(ip: string): string {
  if (isCanonicalIpv4(ip)) return ip
  const parsed = parseIp(ip)
  if (!parsed) return `x${hashSubject(undefined, ip)}`
  if (parsed.kind() === 'ipv4') return parsed.toString()
  const parts = (parsed as { parts: number[] }).parts
  return `${parts[0]!.toString(16)}:${parts[1]!.toString(16)}:${parts[2]!.toString(16)}:${parts[3]!.toString(16)}::/64`
}
