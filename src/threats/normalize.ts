/**
 * Turns one inspected value into the canonical text the detectors read.
 *
 * Contract:
 * - `isPlainValue(v)` is the fast path: true when `v` holds only characters no rule can use (letters, digits and
 *   `_ . - @ , :`). Such values skip normalisation and every detector; most real values are like this.
 * - `normalizeValue(v)` repeats URL-decoding (`%XX`, `%uXXXX`), HTML character references and JavaScript escapes
 *   (then Unicode NFKC when non-ASCII text is present) until the text stops changing or `MAX_DECODE_ROUNDS` is
 *   reached; removes NUL and other control characters and zero-width characters; folds case; squeezes every run of
 *   whitespace to one space, or to one newline when the run held a line break (a newline separates shell commands,
 *   so it must survive).
 * - SQL comments are not removed here: the SQL tokenizer drops them between tokens and unwraps MySQL's executable
 *   `/*!…*\/` comments, which a text-level removal would get wrong.
 * Pure, total, linear in the input length.
 */
import { decodeEntities, decodeJsEscapes, percentDecode } from './decode.js'

/** Decoding rounds: enough for double and triple encoding, bounded so a crafted value cannot loop. */
export const MAX_DECODE_ROUNDS = 4

const PLAIN = new Uint8Array(128)
for (let c = 48; c <= 57; c++) PLAIN[c] = 1
for (let c = 65; c <= 90; c++) PLAIN[c] = 1
for (let c = 97; c <= 122; c++) PLAIN[c] = 1
for (const ch of '_.-@,:') PLAIN[ch.charCodeAt(0)] = 1

/** True when the value cannot carry an attack any rule looks for, so inspection can skip it. */
export function isPlainValue(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i)
    if (c >= 128 || PLAIN[c] === 0) return false
  }
  return true
}

/**
 * Like `isPlainValue`, also allowing `/`: a request path made of plain segments. A segment that starts with a dot
 * (`/..`, `/.env`) or holds two dots (`wp-config.php.bak`) always needs a look.
 */
export function isPlainPath(p: string): boolean {
  let dots = 0
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i)
    if (c === 47) {
      if (p.charCodeAt(i + 1) === 46) return false
      dots = 0
      continue
    }
    if (c === 46 && ++dots > 1) return false
    if (c >= 128 || PLAIN[c] === 0) return false
  }
  return true
}

function hasNonAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 128) return true
  return false
}

function needsDecoding(s: string): boolean {
  return s.indexOf('%') !== -1 || s.indexOf('&') !== -1 || s.indexOf('\\') !== -1
}

// Slashes NFKC leaves alone but Windows "best fit" conversion and some decoders turn into / and \.
const SLASH_LOOKALIKE = /[\u2044\u2215\u29f8]/g
const BACKSLASH_LOOKALIKE = /[\u2216\u29f9\ufe68]/g

function foldLookalikes(s: string): string {
  return s.replace(SLASH_LOOKALIKE, '/').replace(BACKSLASH_LOOKALIKE, '\\')
}

/** Repeated decoding, without case folding or whitespace changes. */
export function decodeValue(v: string): string {
  let s = v
  for (let round = 0; round < MAX_DECODE_ROUNDS; round++) {
    const before = s
    if (needsDecoding(s)) s = decodeJsEscapes(decodeEntities(percentDecode(s)))
    if (hasNonAscii(s)) s = foldLookalikes(s.normalize('NFKC'))
    if (s === before) break
  }
  return s
}

const enum Ch {
  Keep = 0,
  Space = 1,
  Newline = 2,
  Drop = 3,
}

function classify(c: number): Ch {
  if (c > 32) {
    if (c < 127) return Ch.Keep
    if (c === 127) return Ch.Drop
    if (c < 160) return Ch.Drop // C1 controls
    if (c === 160 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x202f || c === 0x205f || c === 0x3000) return Ch.Space
    if (c === 0x2028 || c === 0x2029) return Ch.Newline
    if (c === 0xad || (c >= 0x200b && c <= 0x200f) || c === 0x2060 || c === 0xfeff) return Ch.Drop
    return Ch.Keep
  }
  if (c === 32 || c === 9 || c === 11 || c === 12) return Ch.Space
  if (c === 10 || c === 13) return Ch.Newline
  return Ch.Drop // NUL and the other C0 controls
}

/** Removes control and zero-width characters and squeezes whitespace runs to one space or one newline. */
export function squeeze(s: string): string {
  let out = ''
  let runStart = 0
  let pending: Ch = Ch.Keep
  let changed = false
  let i = 0
  const n = s.length
  for (; i < n; i++) {
    const k = classify(s.charCodeAt(i))
    if (k === Ch.Keep) {
      if (pending !== Ch.Keep) {
        if (pending === Ch.Newline) out += '\n'
        else if (pending === Ch.Space) out += ' '
        pending = Ch.Keep
        runStart = i
      }
      continue
    }
    // End of a kept run.
    if (pending === Ch.Keep) {
      out += s.slice(runStart, i)
      runStart = i
    }
    if (k === Ch.Drop) {
      changed = true
      if (pending === Ch.Keep) pending = Ch.Drop
      continue
    }
    if (k === Ch.Space) {
      if (s.charCodeAt(i) !== 32 || pending === Ch.Space || pending === Ch.Newline) changed = true
      if (pending !== Ch.Newline) pending = Ch.Space
    } else {
      changed = true
      pending = Ch.Newline
    }
  }
  if (!changed) return s
  if (pending === Ch.Keep) out += s.slice(runStart, n)
  else if (pending === Ch.Space) out += ' '
  else if (pending === Ch.Newline) out += '\n'
  return out
}

/** The canonical, case-folded text of a value, as read by every detector. */
export function normalizeValue(v: string): string {
  return squeeze(decodeValue(v).toLowerCase())
}
