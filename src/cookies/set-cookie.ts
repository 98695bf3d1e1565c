/**
 * Set-Cookie lines, one at a time, per RFC 6265bis: a scanner that finds the name, value and attributes without
 * copying them, a parser built on it, and a serializer. Pure.
 *
 * The scanner is what the rewriter's hot path uses: it writes only numbers (offsets and attribute kinds) into a
 * reusable `CookieScan`, so checking a cookie that already satisfies the policy allocates nothing.
 *
 * Rules (6265bis §5.7, made strict where a gateway must be):
 * - A line holding a control character (anything below 0x20 but HTAB, or 0x7F) is invalid, as browsers ignore it.
 *   So is a character above 0xFF, which Node cannot send.
 * - The name-value pair ends at the first `;`. It needs an `=` and a non-empty name: a nameless cookie can pose as
 *   a `__Host-` cookie in the Cookie header, so it is refused. Name and value are trimmed of spaces and tabs.
 * - Names are RFC 9110 tokens, plus `[` and `]` (PHP sends `cart[item]`). Values may hold anything but controls and
 *   `;` (browsers accept spaces, commas and quotes; a quoted value keeps its quotes).
 * - Name plus value longer than 4096 characters is invalid. An attribute value longer than 1024 is ignored, as
 *   browsers ignore it.
 * - Attribute names are case-insensitive; attributes are split on `;` only, so `Expires=Wed, 21 Oct 2026 07:28:00
 *   GMT` stays whole. Unknown attributes are kept. For repeated attributes the last one counts.
 */

/** Attribute kinds the policy looks at. Anything else is `OTHER` and kept as written. */
export const ATTR = {
  OTHER: 0, SECURE: 1, HTTPONLY: 2, SAMESITE: 3, DOMAIN: 4, PATH: 5, EXPIRES: 6, MAX_AGE: 7, PARTITIONED: 8,
  PRIORITY: 9,
  /** An attribute browsers ignore: no name, or a value over 1024 characters. Dropped when a line is rebuilt. */
  IGNORED: 10,
} as const

/** Why a line is invalid; 0 = valid. */
export const INVALID = { NONE: 0, CONTROL: 1, NO_NAME: 2, NAME_CHAR: 3, TOO_LONG: 4, NOT_LATIN1: 5 } as const

const REASONS = [
  '', 'control character', 'missing name', 'invalid character in name', 'name and value longer than 4096 characters',
  'character outside Latin-1',
] as const

export function invalidReason(code: number): string {
  return REASONS[code] ?? 'invalid'
}

/** SameSite strength, ordered: a larger number is stricter. `DEFAULT` = absent or not a known value. */
export const SAMESITE = { DEFAULT: 0, NONE: 1, LAX: 2, STRICT: 3 } as const

const MAX_NAME_VALUE = 4096
/** Control characters but HTAB, DEL, and anything Node cannot put in a header. */
const FORBIDDEN = /[\x00-\x08\x0a-\x1f\x7f\u0100-\uffff]/
const MAX_ATTRIBUTE_VALUE = 1024

/** Reusable scan result: offsets into the scanned line, never copies of it. */
export class CookieScan {
  invalid = 0
  nameStart = 0
  nameEnd = 0
  valueStart = 0
  valueEnd = 0
  count = 0
  /** Per attribute: trimmed start, end of trimmed name, start of trimmed value (-1: no `=`), trimmed end. */
  starts: Int32Array
  nameEnds: Int32Array
  valueStarts: Int32Array
  ends: Int32Array
  kinds: Uint8Array

  constructor(capacity = 16) {
    this.starts = new Int32Array(capacity)
    this.nameEnds = new Int32Array(capacity)
    this.valueStarts = new Int32Array(capacity)
    this.ends = new Int32Array(capacity)
    this.kinds = new Uint8Array(capacity)
  }

  /** Rare: a line with more attributes than the arrays hold. */
  grow(): void {
    const n = this.starts.length * 2
    const copy = <T extends Int32Array | Uint8Array>(a: T, b: T): T => { b.set(a); return b }
    this.starts = copy(this.starts, new Int32Array(n))
    this.nameEnds = copy(this.nameEnds, new Int32Array(n))
    this.valueStarts = copy(this.valueStarts, new Int32Array(n))
    this.ends = copy(this.ends, new Int32Array(n))
    this.kinds = copy(this.kinds, new Uint8Array(n))
  }
}

/** 1 for characters allowed in a cookie name: RFC 9110 tchar, plus `[` `]`. */
const NAME_CHAR = new Uint8Array(256)
for (const c of "!#$%&'*+-.^_`|~[]0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") NAME_CHAR[c.charCodeAt(0)] = 1

export function isCookieNameChar(code: number): boolean {
  return code < 256 && NAME_CHAR[code] === 1
}

export function isValidCookieName(name: string): boolean {
  if (name.length === 0) return false
  for (let i = 0; i < name.length; i++) if (!isCookieNameChar(name.charCodeAt(i))) return false
  return true
}

function isWhitespace(c: number): boolean {
  return c === 32 || c === 9
}

function lower(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c
}

/** Case-insensitive comparison of `line[start, end)` with a lower-case ASCII literal. No allocation. */
export function regionEqualsLower(line: string, start: number, end: number, literal: string): boolean {
  if (end - start !== literal.length) return false
  for (let i = 0; i < literal.length; i++) if (lower(line.charCodeAt(start + i)) !== literal.charCodeAt(i)) return false
  return true
}

/** Case-insensitive: does `line[start, end)` begin with a lower-case ASCII literal? */
export function regionStartsWithLower(line: string, start: number, end: number, literal: string): boolean {
  if (end - start < literal.length) return false
  for (let i = 0; i < literal.length; i++) if (lower(line.charCodeAt(start + i)) !== literal.charCodeAt(i)) return false
  return true
}

function attributeKind(line: string, s: number, e: number): number {
  switch (e - s) {
    case 4: return regionEqualsLower(line, s, e, 'path') ? ATTR.PATH : ATTR.OTHER
    case 6:
      if (regionEqualsLower(line, s, e, 'secure')) return ATTR.SECURE
      return regionEqualsLower(line, s, e, 'domain') ? ATTR.DOMAIN : ATTR.OTHER
    case 7:
      if (regionEqualsLower(line, s, e, 'expires')) return ATTR.EXPIRES
      return regionEqualsLower(line, s, e, 'max-age') ? ATTR.MAX_AGE : ATTR.OTHER
    case 8:
      if (regionEqualsLower(line, s, e, 'httponly')) return ATTR.HTTPONLY
      if (regionEqualsLower(line, s, e, 'samesite')) return ATTR.SAMESITE
      return regionEqualsLower(line, s, e, 'priority') ? ATTR.PRIORITY : ATTR.OTHER
    case 11: return regionEqualsLower(line, s, e, 'partitioned') ? ATTR.PARTITIONED : ATTR.OTHER
    default: return ATTR.OTHER
  }
}

/**
 * Scans one Set-Cookie line into `scan`. Returns false (and sets `scan.invalid`) when browsers would ignore the line
 * or this module refuses it. Allocates nothing unless the line has more attributes than `scan` holds.
 */
export function scanSetCookie(line: string, scan: CookieScan): boolean {
  scan.invalid = INVALID.NONE
  scan.count = 0
  // One native regex pass beats a JS character loop here; the offending character is rare.
  const bad = FORBIDDEN.exec(line)
  if (bad !== null) return fail(scan, bad[0].charCodeAt(0) > 255 ? INVALID.NOT_LATIN1 : INVALID.CONTROL, line)
  const n = line.length
  let pairEnd = line.indexOf(';')
  if (pairEnd === -1) pairEnd = n
  const eq = line.indexOf('=')
  if (eq === -1 || eq > pairEnd) return fail(scan, INVALID.NO_NAME, line)
  let ns = 0
  let ne = eq
  while (ns < ne && isWhitespace(line.charCodeAt(ns))) ns++
  while (ne > ns && isWhitespace(line.charCodeAt(ne - 1))) ne--
  scan.nameStart = ns
  scan.nameEnd = ne
  if (ns === ne) return fail(scan, INVALID.NO_NAME, line)
  let vs = eq + 1
  let ve = pairEnd
  while (vs < ve && isWhitespace(line.charCodeAt(vs))) vs++
  while (ve > vs && isWhitespace(line.charCodeAt(ve - 1))) ve--
  scan.valueStart = vs
  scan.valueEnd = ve
  for (let i = ns; i < ne; i++) if (NAME_CHAR[line.charCodeAt(i)] !== 1) return fail(scan, INVALID.NAME_CHAR, line)
  if (ne - ns + (ve - vs) > MAX_NAME_VALUE) return fail(scan, INVALID.TOO_LONG, line)

  let pos = pairEnd + 1
  while (pos < n) {
    // The end comes from indexOf (native); the '=' from a loop that stops at it, so only attribute names are read
    // character by character (indexOf('=') would run past the attribute on flags like `Secure`).
    let end = line.indexOf(';', pos)
    if (end === -1) end = n
    let aeq = -1
    for (let i = pos; i < end; i++) {
      if (line.charCodeAt(i) === 61) { aeq = i; break }
    }
    let s = pos
    let e = end
    pos = end + 1
    while (s < e && isWhitespace(line.charCodeAt(s))) s++
    while (e > s && isWhitespace(line.charCodeAt(e - 1))) e--
    if (s === e) continue
    let nameEnd = aeq === -1 ? e : aeq
    while (nameEnd > s && isWhitespace(line.charCodeAt(nameEnd - 1))) nameEnd--
    let valueStart = -1
    if (aeq !== -1) {
      valueStart = aeq + 1
      while (valueStart < e && isWhitespace(line.charCodeAt(valueStart))) valueStart++
    }
    if (scan.count === scan.starts.length) scan.grow()
    const k = scan.count++
    scan.starts[k] = s
    scan.nameEnds[k] = nameEnd
    scan.valueStarts[k] = valueStart
    scan.ends[k] = e
    scan.kinds[k] = nameEnd === s || (valueStart !== -1 && e - valueStart > MAX_ATTRIBUTE_VALUE)
      ? ATTR.IGNORED
      : attributeKind(line, s, nameEnd)
  }
  return true
}

function fail(scan: CookieScan, code: number, line: string): false {
  scan.invalid = code
  if (code === INVALID.CONTROL || code === INVALID.NOT_LATIN1) {
    // Offsets for `invalidName()`: the name is what precedes the first '=' of the pair.
    const semi = line.indexOf(';')
    const eq = line.indexOf('=')
    scan.nameStart = 0
    scan.nameEnd = eq !== -1 && (semi === -1 || eq < semi) ? eq : 0
  } else if (code === INVALID.NO_NAME) {
    scan.nameStart = 0
    scan.nameEnd = 0
  }
  return false
}

/**
 * The name of an invalid line, safe to log: controls become `?`, at most 64 characters. A nameless line gives ''
 * (its only part is a value, which is never reported).
 */
export function invalidName(line: string, scan: CookieScan): string {
  const raw = line.slice(scan.nameStart, Math.min(scan.nameEnd, scan.nameStart + 64)).trim()
  return raw.replace(/[^\x21-\x7e]/g, '?')
}

/** The SameSite strength of an attribute value region. */
export function sameSiteOf(line: string, start: number, end: number): number {
  if (start < 0) return SAMESITE.DEFAULT
  if (regionEqualsLower(line, start, end, 'lax')) return SAMESITE.LAX
  if (regionEqualsLower(line, start, end, 'strict')) return SAMESITE.STRICT
  if (regionEqualsLower(line, start, end, 'none')) return SAMESITE.NONE
  return SAMESITE.DEFAULT
}

// ---------------------------------------------------------------------------------------------------------------
// Object model, for callers off the hot path (tests, diagnostics).

export interface CookieAttribute {
  /** As written (trimmed). */
  readonly name: string
  /** Undefined for a flag (`Secure`); '' for `Name=`. */
  readonly value: string | undefined
}

export interface SetCookie {
  readonly name: string
  /** As sent: quotes included. */
  readonly value: string
  readonly attributes: readonly CookieAttribute[]
}

export type ParseResult =
  | { readonly ok: true; readonly cookie: SetCookie }
  | { readonly ok: false; readonly name: string; readonly reason: string }

export function parseSetCookie(line: string): ParseResult {
  const scan = new CookieScan()
  if (!scanSetCookie(line, scan)) return { ok: false, name: invalidName(line, scan), reason: invalidReason(scan.invalid) }
  const attributes: CookieAttribute[] = []
  for (let i = 0; i < scan.count; i++) {
    if (scan.kinds[i] === ATTR.IGNORED) continue
    const vs = scan.valueStarts[i]!
    attributes.push({
      name: line.slice(scan.starts[i], scan.nameEnds[i]),
      value: vs === -1 ? undefined : line.slice(vs, scan.ends[i]),
    })
  }
  return {
    ok: true,
    cookie: {
      name: line.slice(scan.nameStart, scan.nameEnd),
      value: line.slice(scan.valueStart, scan.valueEnd),
      attributes,
    },
  }
}

/** The value of the last attribute with this name (case-insensitive): `true` for a flag, undefined when absent. */
export function getAttribute(cookie: SetCookie, name: string): string | true | undefined {
  const want = name.toLowerCase()
  for (let i = cookie.attributes.length - 1; i >= 0; i--) {
    const a = cookie.attributes[i]!
    if (a.name.toLowerCase() === want) return a.value ?? true
  }
  return undefined
}

/** Writes a cookie back as one line. Throws a TypeError when a part could not be sent (it would split the header). */
export function serializeSetCookie(cookie: SetCookie): string {
  if (!isValidCookieName(cookie.name)) throw new TypeError('invalid cookie name')
  const bad = /[\x00-\x08\x0a-\x1f\x7f;]|[^\x00-\xff]/
  if (bad.test(cookie.value)) throw new TypeError(`invalid value for cookie ${cookie.name}`)
  let out = `${cookie.name}=${cookie.value}`
  for (const a of cookie.attributes) {
    if (a.name === '' || bad.test(a.name) || a.name.includes('=') || (a.value !== undefined && bad.test(a.value))) {
      throw new TypeError(`invalid attribute on cookie ${cookie.name}`)
    }
    out += a.value === undefined ? `; ${a.name}` : `; ${a.name}=${a.value}`
  }
  return out
}
