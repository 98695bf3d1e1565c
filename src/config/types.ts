/**
 * Building blocks for the config schema. Every section of the schema uses these, so that units, CIDRs, host
 * patterns and regexes are checked (and converted) in one place, by one Ajv keyword: `rampartFormat`.
 *
 * Validation converts in place: a `Duration()` field holds milliseconds afterwards, a `Size()` field bytes, a
 * `HostPattern()` field the lower-case ASCII (punycode) form. TypeBox's static types describe the converted value.
 */
import { Type, type TSchema, type SchemaOptions, type TUnsafe } from '@sinclair/typebox'
import { domainToASCII } from 'node:url'
import { parseDuration, parseSize } from './units.js'
import { isValidCidr } from '../net/cidr.js'

export type RampartFormat = 'duration' | 'size' | 'cidr' | 'hostPattern' | 'hostname' | 'regex' | 'httpUrl' | 'headerName'

function formatted<T>(format: RampartFormat, options: SchemaOptions = {}): TUnsafe<T> {
  return Type.Unsafe<T>({ ...options, rampartFormat: format })
}

/** `500ms`, `30s`, `15m`, `1h`, `7d`, `1h30m` → milliseconds. */
export const Duration = (options?: SchemaOptions) => formatted<number>('duration', options)
/** `512`, `64kb`, `1mb` → bytes (1024-based). */
export const Size = (options?: SchemaOptions) => formatted<number>('size', options)
/** An IPv4/IPv6 address or CIDR block. */
export const Cidr = (options?: SchemaOptions) => formatted<string>('cidr', options)
/** `example.com` or `*.example.com`; case and IDN do not matter (stored lower-case, punycode). */
export const HostPattern = (options?: SchemaOptions) => formatted<string>('hostPattern', options)
/** A plain host name (no wildcard); stored lower-case, punycode. */
export const Hostname = (options?: SchemaOptions) => formatted<string>('hostname', options)
/** A JavaScript regular expression source, compiled once at startup to prove it is valid. */
export const Regex = (options?: SchemaOptions) => formatted<string>('regex', options)
/** An absolute http:// or https:// URL. */
export const HttpUrl = (options?: SchemaOptions) => formatted<string>('httpUrl', options)
/** An HTTP header field name (RFC 9110 token); stored lower-case. */
export const HeaderName = (options?: SchemaOptions) => formatted<string>('headerName', options)

/** A string from a fixed set; the error lists the allowed values. */
export function Enum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ ...options, type: 'string', enum: [...values] })
}

/** An object that rejects unknown keys. Every object in the schema is one of these. */
export function Strict<T extends Parameters<typeof Type.Object>[0]>(properties: T, options: SchemaOptions = {}) {
  return Type.Object(properties, { additionalProperties: false, ...options })
}

/** `open` lets a request through when the store or a detector fails; `closed` refuses it. */
export const FailMode = (options: SchemaOptions = {}) => Enum(['open', 'closed'] as const, options)

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/i

export function normalizeHostname(text: string): string | undefined {
  if (text.length === 0 || text.length > 253) return undefined
  const trimmed = text.endsWith('.') ? text.slice(0, -1) : text
  const ascii = domainToASCII(trimmed)
  if (!ascii) return undefined
  const labels = ascii.split('.')
  for (const l of labels) if (!LABEL.test(l)) return undefined
  return ascii
}

export function normalizeHostPattern(text: string): string | undefined {
  if (text.startsWith('*.')) {
    const rest = normalizeHostname(text.slice(2))
    return rest ? `*.${rest}` : undefined
  }
  return normalizeHostname(text)
}

interface CheckResult { ok: boolean; value?: unknown; message?: string }

/** Checks (and converts) one value. Pure; used by the Ajv keyword and by unit tests. */
export function checkFormat(format: RampartFormat, data: unknown): CheckResult {
  switch (format) {
    case 'duration': {
      const ms = parseDuration(data)
      return ms === undefined
        ? { ok: false, message: 'must be a duration with a unit, like 500ms, 30s, 15m, 1h or 7d' }
        : { ok: true, value: ms }
    }
    case 'size': {
      const bytes = parseSize(data)
      return bytes === undefined
        ? { ok: false, message: 'must be a size, like 512, 64kb or 1mb' }
        : { ok: true, value: bytes }
    }
    case 'cidr':
      return typeof data === 'string' && isValidCidr(data)
        ? { ok: true, value: data }
        : { ok: false, message: 'must be an IPv4 or IPv6 address or CIDR block, like 10.0.0.0/8 or 2001:db8::/32' }
    case 'hostPattern': {
      const host = typeof data === 'string' ? normalizeHostPattern(data) : undefined
      return host
        ? { ok: true, value: host }
        : { ok: false, message: 'must be a host name like example.com or a wildcard like *.example.com' }
    }
    case 'hostname': {
      const host = typeof data === 'string' ? normalizeHostname(data) : undefined
      return host ? { ok: true, value: host } : { ok: false, message: 'must be a host name like example.com' }
    }
    case 'regex':
      if (typeof data !== 'string') return { ok: false, message: 'must be a regular expression string' }
      try {
        new RegExp(data)
        return { ok: true, value: data }
      } catch (err) {
        return { ok: false, message: `must be a valid regular expression (${(err as Error).message})` }
      }
    case 'httpUrl':
      if (typeof data === 'string') {
        try {
          const u = new URL(data)
          if ((u.protocol === 'http:' || u.protocol === 'https:') && u.hostname && !u.username && !u.password) {
            return { ok: true, value: data }
          }
        } catch { /* reported below */ }
      }
      return { ok: false, message: 'must be an absolute http:// or https:// URL' }
    case 'headerName':
      return typeof data === 'string' && TOKEN.test(data)
        ? { ok: true, value: data.toLowerCase() }
        : { ok: false, message: 'must be an HTTP header name' }
  }
}

export type { TSchema }
