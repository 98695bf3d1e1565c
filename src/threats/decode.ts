/**
 * Tolerant decoders used by threat normalisation: percent-encoding (including IIS `%uXXXX`), HTML character
 * references and JavaScript escapes.
 *
 * Contract: every function is total (never throws, whatever the input), runs in time linear in the input, and
 * returns the input itself when there is nothing to decode, so the common case allocates nothing. Malformed
 * sequences are left as they are: an attacker gains nothing from a sequence the application would not decode
 * either, and a detector sees the text it would see.
 */

const HEX_VALUE = new Int8Array(128).fill(-1)
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i
for (let i = 0; i < 6; i++) {
  HEX_VALUE[65 + i] = 10 + i
  HEX_VALUE[97 + i] = 10 + i
}

function hexAt(s: string, i: number): number {
  const c = s.charCodeAt(i)
  return c < 128 ? HEX_VALUE[c]! : -1
}

// Non-fatal: invalid UTF-8 (overlong forms such as %c0%ae) becomes U+FFFD instead of throwing.
const UTF8 = new TextDecoder('utf-8', { fatal: false })
let bytes = new Uint8Array(256)

/**
 * Decodes `%XX` (as UTF-8) and `%uXXXX` sequences once. Invalid escapes stay literal.
 */
export function percentDecode(s: string): string {
  let i = s.indexOf('%')
  if (i === -1) return s
  let out = s.slice(0, i)
  const n = s.length
  while (i < n) {
    const c = s.charCodeAt(i)
    if (c !== 37 /* % */) {
      const next = s.indexOf('%', i)
      const end = next === -1 ? n : next
      out += s.slice(i, end)
      i = end
      continue
    }
    // %uXXXX (IIS): decode as one UTF-16 code unit.
    if (i + 5 < n && (s.charCodeAt(i + 1) | 32) === 117) {
      const a = hexAt(s, i + 2), b = hexAt(s, i + 3), d = hexAt(s, i + 4), e = hexAt(s, i + 5)
      if ((a | b | d | e) >= 0) {
        out += String.fromCharCode((a << 12) | (b << 8) | (d << 4) | e)
        i += 6
        continue
      }
    }
    // A run of %XX bytes, decoded together so multi-byte UTF-8 sequences come out whole.
    let count = 0
    while (i + 2 < n && s.charCodeAt(i) === 37) {
      const hi = hexAt(s, i + 1)
      const lo = hexAt(s, i + 2)
      if (hi < 0 || lo < 0) break
      if (count === bytes.length) {
        const bigger = new Uint8Array(bytes.length * 2)
        bigger.set(bytes)
        bytes = bigger
      }
      bytes[count++] = (hi << 4) | lo
      i += 3
    }
    if (count > 0) {
      out += count === 1 && bytes[0]! < 128 ? String.fromCharCode(bytes[0]!) : UTF8.decode(bytes.subarray(0, count))
    } else {
      out += '%'
      i++
    }
  }
  return out
}

/** `application/x-www-form-urlencoded` decoding: `+` is a space, then percent-decoding. */
export function formDecode(s: string): string {
  if (s.indexOf('+') !== -1) s = s.replace(/\+/g, ' ')
  return percentDecode(s)
}

const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  lt: '<', gt: '>', amp: '&', quot: '"', apos: "'", nbsp: ' ', colon: ':', tab: '\t', newline: '\n',
  lpar: '(', rpar: ')', sol: '/', bsol: '\\', semi: ';', comma: ',', period: '.', excl: '!', num: '#',
  dollar: '$', percnt: '%', lsqb: '[', rsqb: ']', lbrack: '[', rbrack: ']', lcub: '{', rcub: '}',
  lbrace: '{', rbrace: '}', grave: '`', equals: '=', plus: '+', ast: '*', quest: '?', lowbar: '_',
  hyphen: '-', dash: '-', verbar: '|', vert: '|', lsquo: "'", rsquo: "'", ldquo: '"', rdquo: '"',
}

// Bounded repetitions only: the longest possible match is a few dozen characters.
const ENTITY = /&(?:#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}))|([a-zA-Z][a-zA-Z0-9]{1,31}));?/g

function entityReplacement(m: string, hex: string | undefined, dec: string | undefined, name: string | undefined): string {
  if (name !== undefined) return NAMED_ENTITIES[name.toLowerCase()] ?? m
  const code = hex !== undefined ? parseInt(hex, 16) : parseInt(dec!, 10)
  if (!(code >= 0 && code <= 0x10ffff) || (code >= 0xd800 && code <= 0xdfff)) return m
  return String.fromCodePoint(code)
}

/** Decodes HTML character references (`&lt;`, `&#60;`, `&#x3c;`, with or without the `;`), once. */
export function decodeEntities(s: string): string {
  if (s.indexOf('&') === -1) return s
  return s.replace(ENTITY, entityReplacement)
}

const JS_ESCAPE = /\\(?:u\{([0-9a-fA-F]{1,6})\}|u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2}))/g

function jsReplacement(m: string, braced: string | undefined, u4: string | undefined, x2: string | undefined): string {
  const code = parseInt(braced ?? u4 ?? x2!, 16)
  if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return m
  return String.fromCodePoint(code)
}

/** Decodes JavaScript `\uXXXX`, `\u{X…}` and `\xXX` escapes, once. */
export function decodeJsEscapes(s: string): string {
  if (s.indexOf('\\') === -1) return s
  return s.replace(JS_ESCAPE, jsReplacement)
}
