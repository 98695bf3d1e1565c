/**
 * Response hardening, wired: the security-header policy and the Set-Cookie rewriter applied to every proxied
 * response, and the policy's own-response headers on Rampart's pages and answers. Both are compiled once per plan;
 * per response this selects a precomputed header set and runs the cookie rewriter (which leaves compliant lines as
 * they are). Invalid upstream cookies are dropped and logged by name only.
 *
 * Fails: header application cannot fail at request time (values are precomputed). If cookie rewriting throws
 * (it should not), `cookies.onError: closed` drops the response's Set-Cookie lines rather than pass them unhardened;
 * `open` passes them as the upstream sent them. Either choice is logged.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import type { RampartConfig } from '../config/schema.js'
import { compileHeaderPolicy, type HeaderPolicy } from '../headers/policy.js'
import { compileCookieRewriter, type CookieRewriter } from '../cookies/rewrite.js'
import type { Protection } from '../server/protection.js'
import type { UpstreamHeaders } from '../proxy/forwarder.js'
import { ERRORS } from '../errors.js'

export interface Hardening {
  readonly protection: Protection
  readonly policy: HeaderPolicy
  readonly warnings: readonly string[]
}

export function compileHardening(config: RampartConfig, logger: Logger): Hardening {
  const sites = config.sites.map((s) => ({ name: s.name ?? s.hosts[0]!, hosts: s.hosts, cookies: s.cookies }))
  const { policy, warnings } = compileHeaderPolicy(config.headers, sites)
  const rewriters: CookieRewriter[] = sites.map((s) => compileCookieRewriter(config.cookies, s))
  const failClosed = config.cookies.onError === 'closed'

  const protection: Protection = {
    name: 'hardening',
    onUpstreamHeaders(headers: UpstreamHeaders, request: FastifyRequest): UpstreamHeaders {
      const st = request.rampart
      const out = policy.select(st.site.index, request.raw.url ?? '/', true).applyToCopy(headers) as UpstreamHeaders
      const cookies = out['set-cookie']
      if (cookies !== undefined) {
        try {
          const r = rewriters[st.site.index]!.rewrite(cookies, st.host)
          out['set-cookie'] = r.values.length > 0 ? r.values : undefined
          for (const d of r.dropped) {
            logger.warn({ code: 'RAMPART_ERR_COOKIE_INVALID', reqId: request.id, site: st.site.name, cookie: d.name, reason: d.reason },
              ERRORS.RAMPART_ERR_COOKIE_INVALID.message)
          }
        } catch (err) {
          out['set-cookie'] = failClosed ? undefined : cookies
          logger.error({ code: 'RAMPART_ERR_COOKIE_INVALID', reqId: request.id, site: st.site.name, failMode: failClosed ? 'closed' : 'open',
            err: { message: (err as Error).message } }, 'cookie rewriting failed')
        }
      }
      return out
    },
    onOwnResponse(reply: FastifyReply, request: FastifyRequest | undefined): void {
      const st = request?.rampart
      const set = st ? policy.select(st.site.index, request!.raw.url ?? '/', true) : policy.fallback(true)
      for (const [k, v] of set.own) reply.header(k, v)
    },
    describe: () => ({ headerSets: policy.setCount, cookies: config.cookies.enabled ? 'rewrite' : 'pass-through', cookieOnError: config.cookies.onError }),
  }
  return { protection, policy, warnings }
}
