/**
 * Canonical request paths for matching path prefixes (access rules, threat exclusions).
 *
 * An attacker controls the spelling of a path: `/%61dmin`, `//admin`, `/x/../admin`, `/ADMIN`, `/admin;x=1`,
 * `/%2e%2e/admin` and `\admin` all reach `/admin` on some upstream. Matching therefore works on one canonical form,
 * chosen so that every spelling an upstream might read as a protected path matches that path's rule. When in
 * doubt the canonical form over-matches (a rule covers more), never under-matches.
 *
 * `normalizePathForMatching(raw)`:
 * 1. Drops a query (`?…`) and fragment (`#…`), and the scheme and authority of an absolute-form target.
 * 2. Decodes every `%XX` once. `%2F` and `%5C` (encoded `/` and `\`) and a literal `\` count as separators,
 *    because some upstreams decode them before routing (IIS, some PHP front controllers). `%25` stays a literal
 *    percent sign, so `%252e` is not a dot (the upstream decodes once too).
 * 3. Re-encodes canonically: ASCII letters lower-cased (paths are matched case-insensitively, for upstreams on
 *    case-insensitive file systems), unreserved characters and sub-delimiters (`!$&'()*+,;=:@`) as themselves,
 *    every other byte, including non-ASCII UTF-8, as lower-case `%xx`. So `é` and `%C3%A9` are the same.
 * 4. Cuts each segment at `;` (path parameters: `/admin;jsessionid=1`, Tomcat's `/..;/`).
 * 5. Drops empty segments (collapses `//`) and resolves `.` and `..` (never above the root).
 * The result starts with `/` and has no trailing slash (`/` alone for the root). Pure and linear.
 *
 * `pathHasPrefix(path, prefix)` compares two canonical paths segment-wise: `/admin` covers `/admin` and
 * `/admin/users`, not `/administrator`.
 */

const KEEP = new Uint8Array(128)
for (let c = 48; c <= 57; c++) KEEP[c] = 1
for (let c = 97; c <= 122; c++) KEEP[c] = 1
for (const ch of "-._~!$&'()*+,;=:@") KEEP[ch.charCodeAt(0)] = 1

const HEX_DIGITS = '0123456789abcdef'

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  const l = c | 32
  if (l >= 97 && l <= 102) return l - 87
  return -1
}

function canonByte(b: number): string {
  if (b >= 65 && b <= 90) return String.fromCharCode(b + 32)
  if (b < 128 && KEEP[b] === 1) return String.fromCharCode(b)
  return `%${HEX_DIGITS[b >> 4]}${HEX_DIGITS[b & 15]}`
}

function canonCodePoint(cp: number): string {
  // UTF-8 bytes of one code point (lone surrogates become U+FFFD).
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd
  if (cp < 0x800) return canonByte(0xc0 | (cp >> 6)) + canonByte(0x80 | (cp & 63))
  if (cp < 0x10000) return canonByte(0xe0 | (cp >> 12)) + canonByte(0x80 | ((cp >> 6) & 63)) + canonByte(0x80 | (cp & 63))
  return canonByte(0xf0 | (cp >> 18)) + canonByte(0x80 | ((cp >> 12) & 63)) + canonByte(0x80 | ((cp >> 6) & 63)) +
    canonByte(0x80 | (cp & 63))
}

function stripTarget(raw: string): string {
  let end = raw.length
  const q = raw.indexOf('?')
  if (q !== -1) end = q
  const h = raw.indexOf('#')
  if (h !== -1 && h < end) end = h
  let start = 0
  // Absolute-form request target: http://host:port/path
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(raw)
  if (scheme && scheme[0].length <= end) {
    const slash = raw.indexOf('/', scheme[0].length)
    start = slash === -1 || slash > end ? end : slash
  }
  return raw.slice(start, end)
}

export function normalizePathForMatching(rawPath: string): string {
  const path = stripTarget(rawPath)
  const segments: string[] = []
  let cur = ''
  const endSegment = (): void => {
    const semi = cur.indexOf(';')
    const seg = semi === -1 ? cur : cur.slice(0, semi)
    cur = ''
    if (seg === '' || seg === '.') return
    if (seg === '..') {
      segments.pop()
      return
    }
    segments.push(seg)
  }
  const n = path.length
  for (let i = 0; i < n; i++) {
    const c = path.charCodeAt(i)
    if (c === 47 || c === 92) {
      endSegment()
      continue
    }
    if (c === 37 && i + 2 < n) {
      const hi = hexValue(path.charCodeAt(i + 1))
      const lo = hexValue(path.charCodeAt(i + 2))
      if (hi >= 0 && lo >= 0) {
        const b = (hi << 4) | lo
        i += 2
        if (b === 0x2f || b === 0x5c) endSegment()
        else cur += canonByte(b)
        continue
      }
    }
    if (c < 128) {
      cur += canonByte(c)
      continue
    }
    const cp = path.codePointAt(i)!
    if (cp > 0xffff) i++
    cur += canonCodePoint(cp)
  }
  endSegment()
  return `/${segments.join('/')}`
}

/** Segment-wise prefix test on canonical paths. */
export function pathHasPrefix(path: string, prefix: string): boolean {
  if (prefix === '/') return true
  if (!path.startsWith(prefix)) return false
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 47
}
