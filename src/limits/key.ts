/**
 * Rate-limit keys: what a limit counts by. A key is one part or a combination of parts:
 * - `ip`: the client address (after trusted proxies), IPv6 grouped by /64; kept in clear text;
 * - `header:<name>`: a request header's value (an API key), hashed;
 * - `body.<field>`: a form or JSON body field (the e-mail of a password-reset form), normalised (trimmed,
 *   lower-cased) and hashed. Form and multipart bodies: the literal field name (`email`, `user[email]`); JSON: a
 *   dotted path (`user.email`).
 *
 * Contract: `compileKey(spec)` once at startup; `subjectsOf(key, input)` per request returns the subjects to count,
 * or `undefined` when a part is missing (the limit then does not apply). A body field sent several times with
 * different values is ambiguous: the application may read the first or the last (PHP and Django read the last), so
 * every distinct value is counted, up to `MAX_SUBJECTS`. More than that returns `'ambiguous'` and the limit refuses
 * the request: a decoy value must not hide the real target.
 *
 * Pure (hashing via node:crypto).
 */
import { hashSubject, ipSubject } from '../store/keys.js'
import { normalizeIdentifier, type ExtractedFields } from '../body/fields.js'

export type KeyPart =
  | { readonly kind: 'ip' }
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'body'; readonly field: string }

export interface CompiledKey {
  readonly parts: readonly KeyPart[]
  /** Body fields this key needs (empty when it needs no body). */
  readonly bodyFields: readonly string[]
  readonly needsBody: boolean
  readonly secret: string | undefined
}

export interface KeyInput {
  readonly ip: string
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  /** Fields extracted from the body (`extractFields`); absent before the body is read. */
  readonly fields?: ExtractedFields | undefined
}

export const MAX_SUBJECTS = 4

const PART = /^(ip|header:([!#$%&'*+.^_`|~0-9A-Za-z-]+)|body\.(.+))$/

/** Parses one key part as written in the config. Undefined when invalid (the schema's pattern rejects it first). */
export function parseKeyPart(text: string): KeyPart | undefined {
  const m = PART.exec(text)
  if (!m) return undefined
  if (m[1] === 'ip') return { kind: 'ip' }
  if (m[2] !== undefined) return { kind: 'header', name: m[2].toLowerCase() }
  return { kind: 'body', field: m[3]! }
}

export function compileKey(spec: string | readonly string[], secret: string | undefined): CompiledKey {
  const texts = typeof spec === 'string' ? [spec] : spec
  const parts = texts.map((t) => {
    const p = parseKeyPart(t)
    if (!p) throw new Error(`invalid rate-limit key part: ${t}`)
    return p
  })
  const bodyFields = parts.flatMap((p) => (p.kind === 'body' ? [p.field] : []))
  return { parts, bodyFields, needsBody: bodyFields.length > 0, secret }
}

/** The subjects to count this request under; see the module header. */
export function subjectsOf(key: CompiledKey, input: KeyInput): string[] | 'ambiguous' | undefined {
  // The common key, the client address alone: one subject, no combining.
  if (key.parts.length === 1 && key.parts[0]!.kind === 'ip') return [ipSubject(input.ip)]
  let subjects: string[] = ['']
  for (let i = 0; i < key.parts.length; i++) {
    const part = key.parts[i]!
    let values: string[]
    if (part.kind === 'ip') {
      values = [ipSubject(input.ip)]
    } else if (part.kind === 'header') {
      const raw = input.headers[part.name]
      const v = Array.isArray(raw) ? raw.join(', ') : raw
      if (v === undefined || v === '') return undefined
      values = [hashSubject(key.secret, v)]
    } else {
      const found = input.fields?.get(part.field)
      if (found === undefined) return undefined
      const distinct = new Set<string>()
      for (const v of found) {
        const n = normalizeIdentifier(v)
        if (n !== '') distinct.add(n)
      }
      if (distinct.size === 0) return undefined
      values = [...distinct].map((v) => hashSubject(key.secret, v))
    }
    const next: string[] = []
    for (const s of subjects) for (const v of values) next.push(s === '' ? v : `${s}|${v}`)
    if (next.length > MAX_SUBJECTS) return 'ambiguous'
    subjects = next
  }
  return subjects
}
