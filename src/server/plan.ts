/**
 * The compiled form of a config: everything a request needs, built once at startup and at each reload, so request
 * handling only looks things up. A reload compiles a new plan and swaps it in; upstream pools whose origin and
 * options did not change are carried over, so keep-alive connections survive a reload.
 */
import type { RampartConfig, SiteConfig } from '../config/schema.js'
import { compileCidrSet, type CidrSet } from '../net/cidr.js'
import { compileSiteRouter, type SiteRouter } from '../proxy/router.js'
import { compileLocationRewriter, type LocationRewriter } from '../proxy/location.js'
import { hostMode, type HostMode } from '../proxy/forward-headers.js'
import { createUpstreamTarget, type PoolOptions, type UpstreamTarget } from '../proxy/forwarder.js'
import { NO_PROTECTIONS, type ProtectionSet } from './protection.js'

export interface CompiledSite {
  readonly index: number
  readonly name: string
  readonly hosts: readonly string[]
  readonly pathPrefix: string
  readonly config: SiteConfig
  readonly target: UpstreamTarget
  readonly hostMode: HostMode
  readonly location: LocationRewriter
}

export interface Plan {
  readonly config: RampartConfig
  readonly sites: readonly CompiledSite[]
  readonly router: SiteRouter<CompiledSite>
  readonly trusted: CidrSet
  readonly requestIdHeader: string
  readonly trustIncomingId: boolean
  readonly maxBodySize: number
  readonly maxUriLength: number
  readonly httpsPort: number
  readonly accessLog: boolean
  /** Compiled protections, in request order. Set by the runtime (they may hold shared resources like the store). */
  readonly protections: ProtectionSet
}

function poolKey(origin: string, o: PoolOptions): string {
  return `${origin}|${o.connections}|${o.keepAliveTimeout}|${o.connectTimeout}|${o.headersTimeout}|${o.bodyTimeout}|${o.verifyTls}`
}

export function siteName(site: SiteConfig): string {
  return site.name ?? site.hosts[0]!
}

export function compilePlan(config: RampartConfig, previous?: Plan): { plan: Plan; retired: UpstreamTarget[] } {
  const reusable = new Map<string, UpstreamTarget>()
  if (previous) {
    for (const s of previous.sites) reusable.set((s.target as UpstreamTarget & { key?: string }).key ?? '', s.target)
  }
  const used = new Set<UpstreamTarget>()
  const sites = config.sites.map((site, index): CompiledSite => {
    const origin = new URL(site.upstream).origin
    const options: PoolOptions = {
      connections: config.proxy.connections,
      keepAliveTimeout: config.proxy.keepAliveTimeout,
      connectTimeout: site.timeouts.connect,
      headersTimeout: site.timeouts.headers,
      bodyTimeout: site.timeouts.idle,
      verifyTls: config.proxy.verifyUpstreamTls,
    }
    const key = poolKey(origin, options)
    let target = reusable.get(key)
    if (!target) {
      target = Object.assign(createUpstreamTarget(origin, options), { key })
      reusable.set(key, target)
    }
    used.add(target)
    return {
      index,
      name: siteName(site),
      hosts: site.hosts,
      pathPrefix: site.pathPrefix,
      config: site,
      target,
      hostMode: hostMode(site.hostHeader, new URL(site.upstream).host),
      location: compileLocationRewriter(site.upstream),
    }
  })
  const retired = previous ? previous.sites.map((s) => s.target).filter((t, i, all) => !used.has(t) && all.indexOf(t) === i) : []
  const plan: Plan = {
    config,
    sites,
    router: compileSiteRouter(sites),
    trusted: compileCidrSet(config.trustedProxies),
    requestIdHeader: config.requestId.header,
    trustIncomingId: config.requestId.trustIncoming,
    maxBodySize: config.proxy.maxBodySize,
    maxUriLength: config.limits.maxUriLength,
    httpsPort: config.listen.https.port,
    accessLog: config.log.accessLog,
    protections: NO_PROTECTIONS,
  }
  return { plan, retired }
}
