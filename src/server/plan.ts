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
import { createBalancer, type Balancer } from '../upstream/balancer.js'

export interface CompiledSite {
  readonly index: number
  readonly name: string
  readonly hosts: readonly string[]
  readonly pathPrefix: string
  readonly config: SiteConfig
  /** Upstream targets and their health; `pick` chooses one per request. */
  readonly balancer: Balancer<UpstreamTarget>
  readonly targets: readonly UpstreamTarget[]
  readonly hostMode: HostMode
  /** Location rewriting knows every target's address. */
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

export function upstreamsOf(site: SiteConfig): string[] {
  return Array.isArray(site.upstream) ? [...site.upstream] : [site.upstream as string]
}

export function siteName(site: SiteConfig): string {
  return site.name ?? site.hosts[0]!
}

export function compilePlan(config: RampartConfig, previous?: Plan): { plan: Plan; retired: UpstreamTarget[] } {
  const reusable = new Map<string, UpstreamTarget>()
  if (previous) {
    for (const s of previous.sites) for (const t of s.targets) reusable.set((t as UpstreamTarget & { key?: string }).key ?? '', t)
  }
  const used = new Set<UpstreamTarget>()
  const sites = config.sites.map((site, index): CompiledSite => {
    const urls = upstreamsOf(site)
    const targets = urls.map((url) => {
      const origin = new URL(url).origin
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
      return target
    })
    return {
      index,
      name: siteName(site),
      hosts: site.hosts,
      pathPrefix: site.pathPrefix,
      config: site,
      targets,
      balancer: createBalancer(targets.map((t) => ({ target: t, label: t.origin })), {
        mode: site.balance,
        maxFails: site.passive.maxFails,
        ejectFor: site.passive.ejectFor,
        healthyThreshold: site.healthCheck?.healthyThreshold ?? 2,
        unhealthyThreshold: site.healthCheck?.unhealthyThreshold ?? 3,
      }),
      hostMode: hostMode(site.hostHeader, new URL(urls[0]!).host),
      location: compileLocationRewriter(urls),
    }
  })
  const retired = previous
    ? [...new Set(previous.sites.flatMap((s) => s.targets))].filter((t) => !used.has(t))
    : []
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
