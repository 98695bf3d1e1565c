/**
 * The one table of every error Rampart throws, answers with, or logs.
 *
 * Codes are stable: `RAMPART_ERR_<AREA>_<WHAT>`. Operators grep logs and alert on them, so a code is never renamed
 * or reused. `docs/ERRORS.md` lists every code; a test keeps the two in sync.
 * `status` is the HTTP status a client sees when the error ends a request (absent for errors that never do).
 */

export interface ErrorSpec {
  readonly message: string
  readonly status?: number
}

export const ERRORS = {
  // --- configuration (startup, `rampart check`, reload) ---
  RAMPART_ERR_CONFIG_INVALID: { message: 'the configuration has errors' },
  RAMPART_ERR_CONFIG_READ: { message: 'the configuration file cannot be read' },
  RAMPART_ERR_CONFIG_YAML: { message: 'the configuration is not valid YAML' },
  RAMPART_ERR_CONFIG_SCHEMA: { message: 'a configuration value does not fit the schema' },
  RAMPART_ERR_CONFIG_ENV: { message: 'an environment variable named in the configuration is not set' },
  RAMPART_ERR_CONFIG_HOST_DUPLICATE: { message: 'a host is configured for more than one site' },
  RAMPART_ERR_CONFIG_CERT: { message: 'a certificate or key cannot be used' },
  RAMPART_ERR_CONFIG_CERT_HOST_UNKNOWN: { message: 'a certificate lists a host that no site serves' },
  RAMPART_ERR_CONFIG_CONFLICT: { message: 'two settings contradict each other' },

  // --- TLS ---
  RAMPART_ERR_TLS_RELOAD: { message: 'reloading certificates failed; the previous certificates stay in use' },
  RAMPART_ERR_TLS_EXPIRING: { message: 'a certificate expires soon' },
  RAMPART_ERR_TLS_EXPIRED: { message: 'a certificate has expired' },
  RAMPART_ERR_TLS_HANDSHAKE: { message: 'a TLS handshake failed' },

  // --- HTTP listener and request validation ---
  RAMPART_ERR_HTTP_BAD_HOST: { message: 'missing, malformed or unknown Host', status: 400 },
  RAMPART_ERR_HTTP_BAD_REQUEST: { message: 'malformed request', status: 400 },
  RAMPART_ERR_HTTP_NO_SITE: { message: 'no site is configured for this host and path', status: 421 },
  RAMPART_ERR_HTTP_BODY_TOO_LARGE: { message: 'request body exceeds the configured limit', status: 413 },
  RAMPART_ERR_HTTP_HEADERS_TOO_LARGE: { message: 'request headers exceed the configured limit', status: 431 },
  RAMPART_ERR_HTTP_URI_TOO_LONG: { message: 'request target exceeds the configured limit', status: 414 },
  RAMPART_ERR_HTTP_TOO_MANY_CONNECTIONS: { message: 'client connections refused: a connection cap is full' },
  RAMPART_ERR_HTTP_INTERNAL: { message: 'internal error while handling the request', status: 500 },

  // --- upstream / proxy ---
  RAMPART_ERR_UPSTREAM_UNREACHABLE: { message: 'the upstream refused or reset the connection', status: 502 },
  RAMPART_ERR_UPSTREAM_TIMEOUT: { message: 'the upstream did not answer in time', status: 504 },
  RAMPART_ERR_UPSTREAM_BAD_RESPONSE: { message: 'the upstream sent an invalid response', status: 502 },
  RAMPART_ERR_UPSTREAM_UNAVAILABLE: { message: 'no healthy upstream target', status: 503 },
  RAMPART_ERR_UPSTREAM_WEBSOCKET: { message: 'the WebSocket upgrade to the upstream failed', status: 502 },

  // --- process lifecycle ---
  RAMPART_ERR_LIFECYCLE_LISTEN: { message: 'a listener could not bind its address' },
  RAMPART_ERR_LIFECYCLE_SHUTDOWN_TIMEOUT: { message: 'connections were still open when the grace period ended' },
  RAMPART_ERR_LIFECYCLE_UNCAUGHT: { message: 'an unexpected error escaped a handler' },
  RAMPART_ERR_LOG_DROPPED: { message: 'log lines were dropped: the log destination was too slow or failed' },

  // --- response hardening: headers, cookies, CSP reports (add RAMPART_ERR_HEADERS_* / _COOKIE_* / _CSP_* here) ---
  RAMPART_ERR_HEADERS_INVALID: { message: 'a security header setting is invalid' },
  RAMPART_ERR_HEADERS_INEFFECTIVE: { message: 'a security header setting will not work as written' },
  RAMPART_ERR_CSP_REPORT_INVALID: { message: 'a CSP violation report could not be read', status: 400 },
  RAMPART_ERR_COOKIE_INVALID: { message: 'an upstream Set-Cookie was invalid and was dropped' },

  // --- store, rate limits, lockout (add RAMPART_ERR_STORE_* / _RATELIMIT_* / _LOCKOUT_* here) ---
  RAMPART_ERR_STORE_CONNECTION: { message: 'the connection to Redis was lost; reconnecting in the background' },
  RAMPART_ERR_RATELIMIT_EXCEEDED: { message: 'too many requests for a rate limit', status: 429 },
  RAMPART_ERR_LOCKOUT_LOCKED: { message: 'login refused: the account or client address is locked after failed logins' },
  RAMPART_ERR_STORE_UNAVAILABLE: { message: 'the store did not answer; the protection applied its onStoreError choice' },

  // --- threats, access rules, alerts (add RAMPART_ERR_THREAT_* / _ACCESS_* / _ALERT_* here) ---
  RAMPART_ERR_THREAT_BLOCKED: { message: 'the request was blocked by threat detection', status: 403 },
  RAMPART_ERR_THREAT_DETECTED: { message: 'the request matched threat rules (reported only: detect mode or under the threshold)' },
  RAMPART_ERR_THREAT_ENGINE: { message: 'threat inspection failed; the request was let through or refused as threats.onError says' },
  RAMPART_ERR_ACCESS_DENIED: { message: 'the client address is not allowed for this path', status: 403 },
  RAMPART_ERR_ALERT_DELIVERY: { message: 'an alert could not be delivered to the webhook after all retries' },
  RAMPART_ERR_ALERT_DROPPED: { message: 'the alert queue was full; the oldest alerts were dropped' },
  RAMPART_ERR_ABUSE_BANNED: { message: 'the client address is banned for abusive behaviour', status: 403 },

  // --- dev certificates ---
  RAMPART_ERR_CERTS_WRITE: { message: 'dev certificates could not be written' },
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof ERRORS

/** An error carrying a catalogued code. `detail` is for logs and `rampart check`, never for HTTP clients. */
export class RampartError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number | undefined
  readonly detail: string | undefined

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    const spec: ErrorSpec = ERRORS[code]
    super(detail ? `${spec.message}: ${detail}` : spec.message, options)
    this.name = 'RampartError'
    this.code = code
    this.statusCode = spec.status
    this.detail = detail
  }
}

export function isRampartError(err: unknown): err is RampartError {
  return err instanceof RampartError
}
