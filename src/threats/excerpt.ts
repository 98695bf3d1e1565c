/**
 * Excerpts for threat matches: a short, escaped window of the text around a match, safe to log and to show in a
 * dashboard, never a whole body and never a secret.
 *
 * Contract:
 * - `excerpt(text, at)` returns at most `EXCERPT_LENGTH` characters of `text` starting a little before `at`,
 *   with `…` marking a cut, then escaped: backslash, quotes, `<`, `>`, `&`, backtick, control, format and
 *   line-separator characters become `\xNN` / `\u{N}` escapes, so the result is printable and inert.
 * - `isSecretName(name)` is true for names like password, passwd, pwd, pass, secret, token, api_key, auth:
 *   their matches are still scored, but the excerpt is `REDACTED`.
 * Pure.
 */

export const EXCERPT_LENGTH = 64
export const REDACTED = '[redacted]'
const LEAD = 16

const SECRET_NAME = /pass|pwd|secret|token|api[-_]?key|auth(?!or(?!i[sz]))|credential|private[-_]?key|session[-_]?key/i

export function isSecretName(name: string | undefined): boolean {
  return name !== undefined && SECRET_NAME.test(name)
}

// Characters that could end a log field, fake a line, reorder text (bidi controls) or be read as markup.
const UNSAFE = /[\\"'<>&`\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g

function escapeChar(ch: string): string {
  const code = ch.charCodeAt(0)
  if (ch === '\\') return '\\\\'
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`
}

export function escapeText(s: string): string {
  return s.replace(UNSAFE, escapeChar)
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff
}

/** A window of `text` around index `at`, truncated and escaped. */
export function excerpt(text: string, at = 0): string {
  let start = Math.max(0, Math.min(at, text.length) - LEAD)
  if (isLowSurrogate(text.charCodeAt(start))) start++
  let end = Math.min(text.length, start + EXCERPT_LENGTH)
  if (end < text.length && isLowSurrogate(text.charCodeAt(end))) end--
  const body = escapeText(text.slice(start, end))
  return `${start > 0 ? '…' : ''}${body}${end < text.length ? '…' : ''}`
}
