/**
 * The request headers the upstream receives. Pure; returns a new object and leaves the client's headers as they are.
 *
 * - Hop-by-hop headers go.
 * - X-Forwarded-For/-Proto/-Host/-Port, Forwarded and X-Real-IP from an untrusted peer are dropped and set afresh;
 *   from a trusted proxy, X-Forwarded-For is appended to and the others are kept when present.
 * - Host: the client's own by default (legacy apps build absolute links from it), or the upstream's, or a fixed value.
 * - The request id is set, so upstream logs can be joined with ours.
 */
import { endToEndHeaders } from './hop-by-hop.js'

type Headers = Record<string, string | string[] | number | undefined>

export interface ForwardContext {
  readonly remoteIp: string
  readonly peerTrusted: boolean
  /** The Host the client asked for (Host header, or :authority for HTTP/2), without changes. */
  readonly host: string
  readonly listenerPort: number
  readonly proto: 'https' | 'http'
  readonly requestIdHeader: string
  readonly requestId: string
}

export type HostMode = { kind: 'preserve' } | { kind: 'upstream'; value: string } | { kind: 'fixed'; value: string }

export function hostMode(setting: string, upstreamHost: string): HostMode {
  if (setting === 'preserve') return { kind: 'preserve' }
  if (setting === 'upstream') return { kind: 'upstream', value: upstreamHost }
  return { kind: 'fixed', value: setting }
}

/** Node's server answers `Expect: 100-continue` itself, and undici refuses to send it: the expectation ends here. */
const ANSWERED_HERE: ReadonlySet<string> = new Set(['expect'])
const FORWARDING: ReadonlySet<string> = new Set([...ANSWERED_HERE, 'forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host',
  'x-forwarded-port', 'x-real-ip'])

export function forwardRequestHeaders(incoming: Readonly<Headers>, ctx: ForwardContext, host: HostMode): Headers {
  const headers = endToEndHeaders(incoming, ctx.peerTrusted ? ANSWERED_HERE : FORWARDING)
  if (!ctx.peerTrusted) {
    headers['x-forwarded-for'] = ctx.remoteIp
    headers['x-forwarded-proto'] = ctx.proto
    headers['x-forwarded-host'] = ctx.host
    headers['x-forwarded-port'] = String(ctx.listenerPort)
  } else {
    const prior = headers['x-forwarded-for']
    const priorText = Array.isArray(prior) ? prior.join(', ') : prior === undefined ? '' : String(prior)
    headers['x-forwarded-for'] = priorText ? `${priorText}, ${ctx.remoteIp}` : ctx.remoteIp
    if (headers['x-forwarded-proto'] === undefined) headers['x-forwarded-proto'] = ctx.proto
    if (headers['x-forwarded-host'] === undefined) headers['x-forwarded-host'] = ctx.host
    if (headers['x-forwarded-port'] === undefined) headers['x-forwarded-port'] = String(ctx.listenerPort)
  }
  headers['host'] = host.kind === 'preserve' ? ctx.host : host.value
  headers[ctx.requestIdHeader] = ctx.requestId
  return headers
}
