/**
 * The HTTP → HTTPS redirect target. Pure.
 *
 * `https://<host>[:port]<path>?<query>`, path and query byte for byte. The host must be one Rampart serves, so the
 * redirect can never point elsewhere (no open redirect). The port appears only when it is not 443. Only origin-form
 * targets (`/path`) are accepted; anything else (absolute-form, `*`, authority-form) is refused.
 */
import { parseHostHeader } from './host.js'

export type RedirectDecision = { ok: true; location: string } | { ok: false; reason: 'bad-host' | 'unknown-host' | 'bad-target' }

export function buildHttpsRedirect(
  hostHeader: string | undefined,
  target: string | undefined,
  knowsHost: (name: string) => boolean,
  httpsPort: number,
): RedirectDecision {
  const host = parseHostHeader(hostHeader)
  if (!host) return { ok: false, reason: 'bad-host' }
  if (!knowsHost(host.name)) return { ok: false, reason: 'unknown-host' }
  if (target === undefined || target.charCodeAt(0) !== 47 /* / */) return { ok: false, reason: 'bad-target' }
  // `//evil.example/x` stays a path on our host once scheme and authority precede it, but a backslash or control
  // character could be read differently by a browser: refuse them.
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i)
    if (c <= 32 || c === 92 /* \ */ || c === 127) return { ok: false, reason: 'bad-target' }
  }
  const port = httpsPort === 443 ? '' : `:${httpsPort}`
  return { ok: true, location: `https://${host.urlHost}${port}${target}` }
}
