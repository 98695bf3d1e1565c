/**
 * The configuration schema: the only source of field names, defaults and documentation.
 *
 * Every object rejects unknown keys (`Strict`). Defaults live here and nowhere else. `description` texts feed the
 * README's config reference. Sections owned by one protection live in `sections/<area>.ts` and are composed here.
 */
import { Type, type Static } from '@sinclair/typebox'
import { Strict, Duration, Size, Cidr, HostPattern, HttpUrl, HeaderName, Enum } from './types.js'
import { Headers } from './sections/headers.js'
import { Cookies, SiteCookies } from './sections/cookies.js'
import { StoreSection } from './sections/store.js'
import { RateLimitsSection } from './sections/rate-limits.js'
import { LockoutSection } from './sections/lockout.js'
import { Threats, Abuse } from './sections/threats.js'
import { Access } from './sections/access.js'
import { Alerts } from './sections/alerts.js'

export const HttpsListener = Strict({
  host: Type.String({ default: '0.0.0.0', description: 'Address the HTTPS listener binds. `::` for IPv6 and IPv4.' }),
  port: Type.Integer({ minimum: 0, maximum: 65535, default: 8443, description: 'HTTPS port (0: any free port).' }),
  http2: Type.Boolean({ default: true, description: 'Offer HTTP/2 by ALPN, with HTTP/1.1 fallback.' }),
}, { default: {} })

export const AcmeChallenge = Strict({
  mode: Enum(['off', 'folder', 'upstream'] as const, {
    default: 'off',
    description: '`folder` serves `/.well-known/acme-challenge/` from `folder`; `upstream` passes it to the site.',
  }),
  folder: Type.Optional(Type.String({ minLength: 1, description: 'Webroot used by certbot (`--webroot -w`).' })),
}, { default: {} })

export const HttpListener = Strict({
  enabled: Type.Boolean({ default: true, description: 'Run the plain-HTTP listener that redirects to HTTPS.' }),
  host: Type.String({ default: '0.0.0.0', description: 'Address the HTTP listener binds.' }),
  port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'HTTP port (0: any free port).' }),
  redirect: Strict({
    status: Type.Union([Type.Literal(308), Type.Literal(301)], {
      default: 308,
      description: '308 keeps the method and body; 301 for clients that need it.',
    }),
    httpsPort: Type.Optional(Type.Integer({
      minimum: 1, maximum: 65535,
      description: 'Public HTTPS port written into redirects. Defaults to 443; set it when clients reach HTTPS on another port.',
    })),
  }, { default: {} }),
  acme: AcmeChallenge,
}, { default: {} })

export const AdminListener = Strict({
  enabled: Type.Boolean({ default: true, description: 'Run the admin listener (health, readiness, metrics, lockouts).' }),
  host: Type.String({ default: '127.0.0.1', description: 'Address the admin listener binds. Keep it private.' }),
  port: Type.Integer({ minimum: 0, maximum: 65535, default: 9901, description: 'Admin port (0: any free port).' }),
  token: Type.Optional(Type.String({ minLength: 16, description: 'Bearer token for everything but the open probes; set it from the environment, e.g. ${RAMPART_ADMIN_TOKEN}. Without it only the open probes answer.' })),
  openProbes: Type.Array(Enum(['healthz', 'readyz', 'metrics'] as const), {
    default: ['healthz', 'readyz'],
    description: 'Endpoints answered without the token (for load balancers and Kubernetes probes).',
  }),
}, { default: {} })

export const Listen = Strict({
  https: HttpsListener,
  http: HttpListener,
  admin: AdminListener,
}, { default: {} })

export const CertificateEntry = Strict({
  hosts: Type.Array(HostPattern(), { minItems: 1, description: 'Names this certificate serves (SNI). Wildcards allowed.' }),
  cert: Type.String({ minLength: 1, description: 'PEM certificate chain, relative to the config file.' }),
  key: Type.String({ minLength: 1, description: 'PEM private key, relative to the config file.' }),
  default: Type.Optional(Type.Boolean({ description: 'Serve this certificate to clients that send no SNI. Default: the first.' })),
})

export const Tls = Strict({
  profile: Enum(['intermediate', 'modern'] as const, {
    default: 'intermediate',
    description: 'Mozilla profile. `intermediate`: TLS 1.2+ with ECDHE+AEAD ciphers. `modern`: TLS 1.3 only.',
  }),
  minVersion: Type.Optional(Enum(['TLSv1.2', 'TLSv1.3'] as const, {
    description: 'Lowest TLS version. Defaults to the profile\'s (TLSv1.2, or TLSv1.3 for modern).',
  })),
  certificates: Type.Array(CertificateEntry, { minItems: 1 }),
  sessionTimeout: Duration({ default: '5m', description: 'TLS session lifetime for resumption (tickets and IDs).' }),
  watch: Type.Boolean({ default: true, description: 'Reload certificates when their files change (SIGHUP always does).' }),
  expiryWarning: Duration({ default: '21d', description: 'Log a warning when a certificate expires within this time.' }),
})

export const SiteTimeouts = Strict({
  connect: Duration({ default: '5s', description: 'Connecting to the upstream. Exceeded: 504.' }),
  headers: Duration({ default: '60s', description: 'Waiting for the upstream\'s response headers. Exceeded: 504.' }),
  idle: Duration({ default: '60s', description: 'Silence while streaming a response body. Exceeded: the response is cut.' }),
}, { default: {} })

export const Site = Strict({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$', description: 'Used in logs and metrics. Default: the first host.' })),
  hosts: Type.Array(HostPattern(), { minItems: 1, description: 'Host names this site answers. `*.a.test` matches `x.a.test`, not `a.test`.' }),
  pathPrefix: Type.String({ default: '/', pattern: '^/', description: 'Only requests under this path go to this site.' }),
  upstream: Type.Union([
    HttpUrl(),
    Type.Array(HttpUrl(), { minItems: 1, maxItems: 64 }),
  ], { description: 'Where the legacy app listens, e.g. http://127.0.0.1:3000, or a list of such targets to balance across.' }),
  balance: Enum(['round-robin', 'least-connections'] as const, {
    default: 'round-robin', description: 'How requests are spread across healthy targets.',
  }),
  healthCheck: Type.Optional(Strict({
    path: Type.String({ default: '/', pattern: '^/', description: 'Path requested on each target (GET, the site\'s first host as Host).' }),
    interval: Duration({ default: '10s', description: 'Time between checks of one target.' }),
    timeout: Duration({ default: '2s', description: 'A check without an answer in this time fails.' }),
    expectStatus: Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { default: [200], minItems: 1, description: 'Statuses that count as healthy.' }),
    healthyThreshold: Type.Integer({ minimum: 1, maximum: 100, default: 2, description: 'Successes in a row that bring a target back.' }),
    unhealthyThreshold: Type.Integer({ minimum: 1, maximum: 100, default: 3, description: 'Failures in a row that take a target out.' }),
  }, { description: 'Active health checks. Without it, only passive checks apply.' })),
  passive: Strict({
    maxFails: Type.Integer({ minimum: 1, maximum: 1000, default: 3, description: 'Consecutive connection failures (refused, reset, connect timeout) that eject a target.' }),
    ejectFor: Duration({ default: '30s', description: 'How long an ejected target gets no traffic before it is tried again.' }),
  }, { default: {}, description: 'Passive health: targets that keep failing are taken out for a while.' }),
  hostHeader: Type.String({
    default: 'preserve',
    description: '`preserve` sends the client\'s Host (legacy apps build links from it); `upstream` sends the upstream\'s; any other value is sent as is.',
  }),
  timeouts: SiteTimeouts,
  cookies: Type.Optional(SiteCookies),
})

export const Proxy = Strict({
  connections: Type.Integer({ minimum: 1, maximum: 4096, default: 128, description: 'Keep-alive connections per upstream origin.' }),
  keepAliveTimeout: Duration({ default: '4s', description: 'How long an idle upstream connection is kept.' }),
  maxBodySize: Size({ default: '10mb', description: 'Largest request body. Larger: 413. Streamed, never buffered.' }),
  verifyUpstreamTls: Type.Boolean({ default: true, description: 'Verify the certificate of https:// upstreams.' }),
}, { default: {} })

export const Limits = Strict({
  maxHeaderSize: Size({ default: '16kb', description: 'Total request header bytes. Larger: 431.' }),
  maxUriLength: Size({ default: '8kb', description: 'Request target length. Longer: 414.' }),
  headersTimeout: Duration({ default: '10s', description: 'Time for a client to send all request headers (slowloris).' }),
  requestTimeout: Duration({ default: '60s', description: 'Time for a client to send a whole request, body included.' }),
  keepAliveTimeout: Duration({ default: '5s', description: 'Idle time before a client keep-alive connection closes.' }),
  handshakeTimeout: Duration({ default: '10s', description: 'Time for a client to complete the TLS handshake, counted from its TCP connection. Exceeded: the connection is closed.' }),
  maxConnections: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10000, description: 'Open client connections per listener (HTTPS, HTTP). More: a new connection is closed at once, before any TLS work.' }),
  maxConnectionsPerIp: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 256, description: 'Open client connections per listener from one address (IPv6: one /64). More: a new connection is closed at once. Peers in `trustedProxies` are only counted in `maxConnections`.' }),
}, { default: {} })

export const RequestId = Strict({
  header: HeaderName({ default: 'x-request-id', description: 'Header carrying the request id, to the upstream and back.' }),
  trustIncoming: Type.Boolean({ default: true, description: 'Keep a valid incoming id (1-128 chars of A-Z a-z 0-9 . _ : -).' }),
}, { default: {} })

export const Log = Strict({
  level: Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, { default: 'info', description: 'Lowest level logged. Access lines are info.' }),
  accessLog: Type.Boolean({ default: true, description: 'One JSON line per request.' }),
}, { default: {} })

export const Shutdown = Strict({
  grace: Duration({ default: '10s', description: 'On SIGTERM/SIGINT, time for in-flight requests to finish.' }),
}, { default: {} })

export const RampartConfigSchema = Strict({
  listen: Listen,
  workers: Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 1, maximum: 256 })], {
    default: 1,
    description: 'Worker processes (node:cluster). `auto`: one per CPU. With more than one, use a Redis store so limits and lockouts are shared.',
  }),
  trustedProxies: Type.Array(Cidr(), {
    default: [],
    description: 'Peers whose X-Forwarded-For is believed (a load balancer). Empty: the socket address is the client.',
  }),
  tls: Tls,
  sites: Type.Array(Site, { minItems: 1 }),
  proxy: Proxy,
  headers: Headers,
  cookies: Cookies,
  store: StoreSection,
  rateLimits: RateLimitsSection,
  lockout: Type.Optional(LockoutSection),
  threats: Threats,
  abuse: Abuse,
  access: Access,
  alerts: Alerts,
  limits: Limits,
  requestId: RequestId,
  log: Log,
  shutdown: Shutdown,
})

export type RampartConfig = Static<typeof RampartConfigSchema>
export type SiteConfig = Static<typeof Site>
export type TlsConfig = Static<typeof Tls>
export type CertificateConfig = Static<typeof CertificateEntry>
