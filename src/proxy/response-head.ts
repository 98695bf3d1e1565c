/**
 * Sending the head of a proxied answer. Pure apart from the response it writes to.
 *
 * Contract: `sendHead(out, status, headers)` writes the status and every defined header in one `writeHead` and
 * returns undefined, or returns Node's error when it refuses a field (invalid bytes, which undici's parser already
 * stops, so a protection's value is the likelier source). On a refusal nothing has been sent and the response holds
 * no trace of the head: no field, and on HTTP/1.1 no reason phrase, so an error page can go out on it as if the
 * head had never been tried.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Http2ServerResponse } from 'node:http2'
import type { UpstreamHeaders } from './forwarder.js'

/**
 * Writes a response head in one `writeHead`: Node builds it straight from the object, where one `setHeader` per
 * field would first stage an entry for each. Undefined values are left out. Returns the error when Node refuses a
 * field (invalid bytes); nothing was sent then, and the response is as it was before, so an error page can follow.
 */
export function sendHead(out: ServerResponse | Http2ServerResponse, status: number, headers: UpstreamHeaders): Error | undefined {
  let fields = headers
  for (const name in headers) {
    if (headers[name] === undefined) {
      fields = {}
      for (const n in headers) if (headers[n] !== undefined) fields[n] = headers[n]
      break
    }
  }
  try {
    (out as ServerResponse).writeHead(status, fields as OutgoingHttpHeaders)
    return undefined
  } catch (err) {
    // HTTP/2 keeps the fields it accepted before the refused one; HTTP/1.1 keeps the status message it chose.
    for (const name of out.getHeaderNames()) out.removeHeader(name)
    if ((out as { stream?: unknown }).stream === undefined) (out as ServerResponse).statusMessage = ''
    return err as Error
  }
}
