/**
 * Cheap iteration over a raw query string and a Cookie header, for inspection.
 *
 * Contract: `forEachQueryParam(raw, fn)` calls `fn(name, value, wire)` for every `&`-separated pair, `name` and
 * `value` form-decoded once (`+` is a space), `wire` the value as received. A pair without `=` has an empty value.
 * `forEachCookie(header, fn)` calls `fn(name, value)` for every `;`-separated pair, trimmed, the value without
 * surrounding double quotes and not decoded (the normaliser decodes what an application would). Empty pairs are
 * skipped. Neither throws; both are linear.
 */
import { formDecode } from './decode.js'

/** First index of the char code in [from, to), or -1. Keeps parsing linear when pairs lack a `=`. */
function indexIn(s: string, code: number, from: number, to: number): number {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) === code) return i
  return -1
}

export type ParamVisitor = (name: string, value: string, wire: string) => void

export function forEachQueryParam(raw: string, fn: ParamVisitor): void {
  const n = raw.length
  let start = 0
  while (start <= n) {
    let end = raw.indexOf('&', start)
    if (end === -1) end = n
    if (end > start) {
      const eq = indexIn(raw, 61, start, end)
      let name: string
      let wire: string
      if (eq === -1) {
        name = raw.slice(start, end)
        wire = ''
      } else {
        name = raw.slice(start, eq)
        wire = raw.slice(eq + 1, end)
      }
      fn(formDecode(name), formDecode(wire), wire)
    }
    start = end + 1
  }
}

export type CookieVisitor = (name: string, value: string) => void

export function forEachCookie(header: string, fn: CookieVisitor): void {
  const n = header.length
  let start = 0
  while (start < n) {
    let end = header.indexOf(';', start)
    if (end === -1) end = n
    const eq = indexIn(header, 61, start, end)
    let name: string
    let value: string
    if (eq === -1) {
      name = ''
      value = header.slice(start, end).trim()
    } else {
      name = header.slice(start, eq).trim()
      value = header.slice(eq + 1, end).trim()
    }
    if (value.length >= 2 && value.charCodeAt(0) === 34 && value.charCodeAt(value.length - 1) === 34) value = value.slice(1, -1)
    if (name.length > 0 || value.length > 0) fn(name, value)
    start = end + 1
  }
}
