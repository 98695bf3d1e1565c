/**
 * Extracts named text fields from a buffered request body, for body-keyed rate limits (the e-mail of a
 * password-reset form) and for the login lockout (the user name).
 *
 * Contract:
 * - `compileFieldSpec(names)` once at startup; `extractFields(spec, body, contentType)` per request on a body the
 *   wiring already capped in size. Returns every value of each wanted field (a field may repeat), at most
 *   `MAX_VALUES_PER_FIELD` per field; fields not present are absent from the map.
 * - `application/x-www-form-urlencoded`: WHATWG parsing (`+` is a space, percent-decoding as UTF-8).
 *   `multipart/form-data`: text parts only (parts with a `filename` are skipped); the boundary comes from the
 *   content type. Names are literal (`email`, `user[email]`).
 *   `application/json` (and `application/*+json`): a name is a dotted path (`user.email`); a string or number value
 *   counts, an array of them gives several values.
 * - `truncated: true` means the wiring cut the body at its cap: a last form pair or multipart part that may be cut
 *   is ignored rather than read as a shorter, wrong value. A cut JSON document does not parse and yields nothing.
 * - Never throws: malformed bodies yield what could be read.
 *
 * Pure.
 */
import { multipartParts } from './multipart.js'

export type ExtractedFields = ReadonlyMap<string, readonly string[]>

export interface FieldSpec {
  readonly names: ReadonlySet<string>
  readonly jsonPaths: ReadonlyMap<string, readonly string[]>
}

export type BodyKind = 'form' | 'json' | 'multipart'

export const MAX_VALUES_PER_FIELD = 8

const EMPTY: ExtractedFields = new Map()

export function compileFieldSpec(names: Iterable<string>): FieldSpec {
  const set = new Set(names)
  const jsonPaths = new Map<string, string[]>()
  for (const n of set) jsonPaths.set(n, n.split('.'))
  return { names: set, jsonPaths }
}

/** Trimmed, lower-cased, Unicode NFC: the form under which e-mails and user names are counted. */
export function normalizeIdentifier(text: string): string {
  return text.normalize('NFC').trim().toLowerCase()
}

export function mediaType(contentType: string | undefined): string {
  if (!contentType) return ''
  const semi = contentType.indexOf(';')
  return (semi >= 0 ? contentType.slice(0, semi) : contentType).trim().toLowerCase()
}

export function bodyKind(contentType: string | undefined): BodyKind | undefined {
  const t = mediaType(contentType)
  if (t === 'application/x-www-form-urlencoded') return 'form'
  if (t === 'multipart/form-data') return 'multipart'
  if (t === 'application/json' || (t.startsWith('application/') && t.endsWith('+json'))) return 'json'
  return undefined
}

const BOUNDARY = /;\s*boundary\s*=\s*(?:"([^"]{1,70})"|([^;\s]{1,70}))/i

export function boundaryOf(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined
  const m = BOUNDARY.exec(contentType)
  return m ? (m[1] ?? m[2]) : undefined
}

export function extractFields(
  spec: FieldSpec,
  body: Buffer,
  contentType: string | undefined,
  options: { truncated?: boolean } = {},
): ExtractedFields {
  if (spec.names.size === 0 || body.length === 0) return EMPTY
  switch (bodyKind(contentType)) {
    case 'form': return fromForm(spec, body, options.truncated === true)
    case 'json': return options.truncated ? EMPTY : fromJson(spec, body)
    case 'multipart': {
      const boundary = boundaryOf(contentType)
      return boundary ? fromMultipart(spec, body, boundary) : EMPTY
    }
    default: return EMPTY
  }
}

function add(out: Map<string, string[]>, name: string, value: string): void {
  const list = out.get(name)
  if (list === undefined) out.set(name, [value])
  else if (list.length < MAX_VALUES_PER_FIELD) list.push(value)
}

function fromForm(spec: FieldSpec, body: Buffer, truncated: boolean): ExtractedFields {
  let text = body.toString('utf8')
  if (truncated) {
    const amp = text.lastIndexOf('&')
    text = amp >= 0 ? text.slice(0, amp) : ''
  }
  const out = new Map<string, string[]>()
  for (const [name, value] of new URLSearchParams(text)) {
    if (spec.names.has(name)) add(out, name, value)
  }
  return out
}

function fromJson(spec: FieldSpec, body: Buffer): ExtractedFields {
  let doc: unknown
  try {
    let text = body.toString('utf8')
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    doc = JSON.parse(text)
  } catch {
    return EMPTY
  }
  if (doc === null || typeof doc !== 'object') return EMPTY
  const out = new Map<string, string[]>()
  for (const [name, path] of spec.jsonPaths) {
    let cur: unknown = doc
    for (const seg of path) {
      if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, seg)) {
        cur = undefined
        break
      }
      cur = (cur as Record<string, unknown>)[seg]
    }
    // A key that itself contains dots (`{"user.email": ...}`) when the path found nothing.
    if (cur === undefined && path.length > 1 && Object.hasOwn(doc, name)) cur = (doc as Record<string, unknown>)[name]
    for (const v of Array.isArray(cur) ? cur : [cur]) {
      if (typeof v === 'string') add(out, name, v)
      else if (typeof v === 'number' && Number.isFinite(v)) add(out, name, String(v))
    }
  }
  return out
}

const DISPOSITION = /^content-disposition\s*:(.*)$/im
const PART_NAME = /;\s*name\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i
const PART_FILENAME = /;\s*filename\*?\s*=/i

function fromMultipart(spec: FieldSpec, body: Buffer, boundary: string): ExtractedFields {
  const out = new Map<string, string[]>()
  for (const part of multipartParts(body, boundary)) {
    // A part without its closing delimiter (a cut body) cannot be trusted as a key.
    if (!part.complete) break
    const disposition = DISPOSITION.exec(part.headers)?.[1]
    if (disposition && !PART_FILENAME.test(disposition)) {
      const m = PART_NAME.exec(disposition)
      const name = m ? (m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1').replace(/%22/g, '"') : m[2]!) : undefined
      if (name !== undefined && spec.names.has(name)) add(out, name, body.toString('utf8', part.contentStart, part.contentEnd))
    }
  }
  return out
}
