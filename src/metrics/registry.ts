/**
 * Prometheus metrics (prom-client). One registry per process; in a cluster the primary aggregates the workers'.
 *
 * Label sets are small and bounded: site names come from the config, status is a class (2xx…), error kinds and
 * TLS reasons are fixed vocabularies. Nothing derived from client input becomes a label. Hot-path updates are a
 * counter increment and a histogram observation per request, with label children resolved once and cached.
 */
import client from 'prom-client'

export interface Metrics {
  readonly registry: client.Registry
  request(site: string, status: number, seconds: number, protocol: string): void
  upstreamError(site: string, kind: string): void
  tlsHandshakeFailure(reason: string, version: string): void
  protectionEvent(protection: string, outcome: string): void
  setCertificateExpiry(entries: ReadonlyArray<{ hosts: readonly string[]; validTo: Date }>): void
  setStoreUp(kind: string, up: boolean): void
  setUpstreamHealthy(site: string, target: string, healthy: boolean): void
  connectionRefused(listener: string, cap: string): void
}

const STATUS_CLASS = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx']

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new client.Registry()
  if (options.defaultMetrics !== false) client.collectDefaultMetrics({ register: registry, prefix: 'rampart_' })

  const refusedConnections = new client.Counter({
    name: 'rampart_connections_refused_total', help: 'Client connections closed at once by limits.maxConnections (cap=total) or limits.maxConnectionsPerIp (cap=per-ip).',
    labelNames: ['listener', 'cap'] as const, registers: [registry],
  })
  const requests = new client.Counter({
    name: 'rampart_requests_total', help: 'Requests answered, by site, status class and protocol.',
    labelNames: ['site', 'status', 'protocol'] as const, registers: [registry],
  })
  const latency = new client.Histogram({
    name: 'rampart_request_duration_seconds', help: 'Time from request to the end of the response, by site.',
    labelNames: ['site'] as const, buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  const upstreamErrors = new client.Counter({
    name: 'rampart_upstream_errors_total', help: 'Upstream failures by site and kind (refused, reset, connect-timeout, headers-timeout, invalid-response…).',
    labelNames: ['site', 'kind'] as const, registers: [registry],
  })
  const tlsFailures = new client.Counter({
    name: 'rampart_tls_handshake_failures_total', help: 'Failed TLS handshakes by reason and offered protocol version.',
    labelNames: ['reason', 'version'] as const, registers: [registry],
  })
  const protections = new client.Counter({
    name: 'rampart_protection_events_total', help: 'Protection decisions: rate limits, lockouts, detections, bans, access denials, by outcome.',
    labelNames: ['protection', 'outcome'] as const, registers: [registry],
  })
  let certEntries: ReadonlyArray<{ hosts: readonly string[]; validTo: Date }> = []
  new client.Gauge({
    name: 'rampart_certificate_expiry_seconds', help: 'Seconds until each certificate expires (negative: expired).',
    labelNames: ['hosts'] as const, registers: [registry],
    // Computed when scraped, so the value is always current.
    collect(this: client.Gauge<'hosts'>) {
      this.reset()
      const now = Date.now()
      for (const e of certEntries) this.set({ hosts: e.hosts.join(',') }, Math.round((e.validTo.getTime() - now) / 1000))
    },
  })
  const storeUp = new client.Gauge({
    name: 'rampart_store_up', help: '1 when the store answers (always 1 for the memory store).',
    labelNames: ['kind'] as const, registers: [registry],
  })
  const upstreamHealthy = new client.Gauge({
    name: 'rampart_upstream_healthy', help: '1 when an upstream target is considered healthy.',
    labelNames: ['site', 'target'] as const, registers: [registry],
  })

  // Label children are looked up once per distinct label set and reused.
  const requestChildren = new Map<string, client.Counter.Internal>()
  const latencyChildren = new Map<string, client.Histogram.Internal<'site'>>()

  return {
    registry,
    request(site, status, seconds, protocol) {
      const cls = STATUS_CLASS[Math.floor(status / 100)] ?? 'other'
      const key = `${site}\u0000${cls}\u0000${protocol}`
      let c = requestChildren.get(key)
      if (!c) {
        c = requests.labels(site, cls, protocol)
        requestChildren.set(key, c)
      }
      c.inc()
      let h = latencyChildren.get(site)
      if (!h) {
        h = latency.labels(site)
        latencyChildren.set(site, h)
      }
      h.observe(seconds)
    },
    upstreamError: (site, kind) => upstreamErrors.labels(site, kind).inc(),
    tlsHandshakeFailure: (reason, version) => tlsFailures.labels(reason, version).inc(),
    protectionEvent: (protection, outcome) => protections.labels(protection, outcome).inc(),
    setCertificateExpiry(entries) {
      certEntries = entries
    },
    setStoreUp: (kind, up) => storeUp.labels(kind).set(up ? 1 : 0),
    setUpstreamHealthy: (site, target, healthy) => upstreamHealthy.labels(site, target).set(healthy ? 1 : 0),
    connectionRefused: (listener, cap) => refusedConnections.labels(listener, cap).inc(),
  }
}

/** A stable, low-cardinality reason for a failed handshake, from OpenSSL's error code or message. */
export function tlsFailureReason(err: Error & { code?: string }): string {
  const text = `${err.code ?? ''} ${err.message}`.toLowerCase()
  if (text.includes('unsupported protocol') || text.includes('version too low') || text.includes('wrong_version')) return 'protocol-version'
  if (text.includes('no shared cipher') || text.includes('no_shared_cipher')) return 'no-shared-cipher'
  if (text.includes('http request') || text.includes('wrong version number')) return 'plain-http'
  if (text.includes('timeout') || text.includes('econnreset') || text.includes('socket hang up')) return 'aborted'
  if (text.includes('unknown ca') || text.includes('certificate')) return 'certificate'
  if (text.includes('alert')) return 'client-alert'
  return 'other'
}
