/**
 * Walks the parts of a multipart/form-data body (RFC 7578) held in a Buffer. Pure; used by body-keyed protections
 * (fields for rate limits and logins) and by the threat scan. A body cut by a size cap ends with a part that has
 * no closing delimiter: it is yielded with `complete: false`, so each caller decides whether to trust it.
 */

const CRLF = Buffer.from('\r\n')
const CRLFCRLF = Buffer.from('\r\n\r\n')

export interface MultipartPart {
  /** The part's header block (Content-Disposition, Content-Type…), as text. */
  readonly headers: string
  readonly contentStart: number
  readonly contentEnd: number
  /** False for the last part of a cut body (no closing delimiter): its content may be partial. */
  readonly complete: boolean
}

export function* multipartParts(body: Buffer, boundary: string): Generator<MultipartPart> {
  const delimiter = Buffer.from(`--${boundary}`)
  const between = Buffer.from(`\r\n--${boundary}`)
  let pos = body.indexOf(delimiter)
  if (pos < 0) return
  pos += delimiter.length
  for (;;) {
    // After a delimiter: `--` closes the body; otherwise the rest of the line (transport padding) and CRLF.
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return
    const lineEnd = body.indexOf(CRLF, pos)
    if (lineEnd < 0) return
    const headersStart = lineEnd + 2
    const headersEnd = body.indexOf(CRLFCRLF, headersStart)
    if (headersEnd < 0) return
    const contentStart = headersEnd + 4
    const next = body.indexOf(between, headersEnd + 2)
    const headers = body.toString('utf8', headersStart, headersEnd)
    if (next < 0) {
      yield { headers, contentStart, contentEnd: body.length, complete: false }
      return
    }
    yield { headers, contentStart, contentEnd: Math.max(next, contentStart), complete: true }
    pos = next + between.length
  }
}
