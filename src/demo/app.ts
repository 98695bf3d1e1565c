/**
 * The bundled demo legacy app: a small club-booking site that behaves like the PHP apps Rampart is put in front of.
 *
 * It serves `ballejaune.localhost` (tennis club "Balle Jaune"), `openresa.localhost` ("OpenResa" booking) and
 * `localhost`, branding each page from the Host header. On purpose it has the weaknesses a legacy PHP site has, so
 * the gateway's protections have something to fix: `Server` and `X-Powered-By` on every response, session cookies
 * without Secure/HttpOnly/SameSite, an unprotected `/admin`, a login form with no attempt limit.
 *
 * Contract: `createDemoApp()` returns a `node:http` server that is not listening yet; `startDemoApp()` binds it and
 * resolves once it accepts connections. Sessions live in memory and only logged-in sessions are stored (at most
 * `maxSessions`, oldest dropped first), so anonymous traffic never grows memory. Request bodies are capped at
 * `maxBodyBytes` (larger: 413).
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'

export interface DemoAppOptions {
  /** Accepted logins, username → password. Default: the demo user `alice` / `correct horse`. */
  readonly users?: Readonly<Record<string, string>>
  /** Largest request body read, in bytes. Default 64 KiB. */
  readonly maxBodyBytes?: number
  /** Logged-in sessions kept in memory. Default 10 000. */
  readonly maxSessions?: number
}

/** Counters a test or the gateway's `demo` command can read. */
export interface DemoStats {
  requests: number
  loginSuccesses: number
  loginFailures: number
}

export interface DemoServer extends http.Server {
  readonly stats: DemoStats
}

export interface StartedDemoApp {
  readonly server: DemoServer
  readonly port: number
  close(): Promise<void>
}

export const DEMO_USERS: Readonly<Record<string, string>> = Object.freeze({ alice: 'correct horse' })

export const INVALID_CREDENTIALS_TEXT = 'Invalid credentials'
export const RESET_SENT_TEXT = 'If an account exists for this address, we sent a reset link.'

const REMEMBER_ME_SECONDS = 30 * 24 * 3600

// Headers every response carries, as a stock Debian Apache + mod_php install sends them. The three cache headers are
// what PHP's default session cache limiter ("nocache") adds whenever a session is started.
const PHP_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['Server', 'Apache/2.4.57 (Debian)'],
  ['X-Powered-By', 'PHP/8.2.7'],
  ['Expires', 'Thu, 19 Nov 1981 08:52:00 GMT'],
  ['Cache-Control', 'no-store, no-cache, must-revalidate'],
  ['Pragma', 'no-cache'],
]

interface Brand {
  readonly name: string
  readonly tagline: string
  readonly color: string
}

const BRANDS = {
  ballejaune: { name: 'Balle Jaune', tagline: 'Tennis club: book a court in two clicks', color: '#c9d400' },
  openresa: { name: 'OpenResa', tagline: 'Online booking for sports clubs', color: '#1f6feb' },
  default: { name: 'Demo Club', tagline: 'A legacy booking site for local testing', color: '#555555' },
} as const satisfies Record<string, Brand>

const COURTS: readonly string[] = [
  'Court 1 (clay)', 'Court 2 (clay)', 'Court 3 (hard)', 'Court 4 (hard, covered)', 'Padel A', 'Padel B', 'Squash 1',
]

/** The Host header without its port, in lower case; `localhost` when absent. */
export function hostWithoutPort(hostHeader: string | undefined): string {
  if (hostHeader === undefined || hostHeader === '') return 'localhost'
  const lower = hostHeader.toLowerCase()
  if (lower.startsWith('[')) {
    const end = lower.indexOf(']')
    return end === -1 ? lower : lower.slice(0, end + 1)
  }
  const colon = lower.indexOf(':')
  return colon === -1 ? lower : lower.slice(0, colon)
}

/** Which club a host belongs to: any name with a `ballejaune` or `openresa` label, so `*.test` names work too. */
export function brandFor(host: string): Brand {
  const labels = host.split('.')
  if (labels.includes('ballejaune')) return BRANDS.ballejaune
  if (labels.includes('openresa')) return BRANDS.openresa
  return BRANDS.default
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** Reads `name=value` pairs of a Cookie header. Malformed pairs are skipped, as PHP does. */
export function parseCookieHeader(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>()
  if (header === undefined) return cookies
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq <= 0) continue
    const name = part.slice(0, eq).trim()
    if (name !== '' && !cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim())
  }
  return cookies
}

class BodyTooLarge extends Error {}
class BadBody extends Error {}

interface Context {
  readonly req: http.IncomingMessage
  readonly res: http.ServerResponse
  readonly host: string
  readonly brand: Brand
  readonly path: string
  readonly query: URLSearchParams
  readonly cookies: Map<string, string>
  /** Set-Cookie lines queued for this response. */
  readonly setCookies: string[]
  sessionId: string
}

type Handler = (ctx: Context) => void | Promise<void>

interface Route {
  readonly GET?: Handler
  readonly POST?: Handler
}

export function createDemoApp(options: DemoAppOptions = {}): DemoServer {
  const users = options.users ?? DEMO_USERS
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024
  const maxSessions = options.maxSessions ?? 10_000
  const stats: DemoStats = { requests: 0, loginSuccesses: 0, loginFailures: 0 }
  // Session id → username. A Map keeps insertion order, so the first key is the oldest session.
  const sessions = new Map<string, string>()

  function send(ctx: Context, status: number, body: string, contentType = 'text/html; charset=UTF-8'): void {
    const { res } = ctx
    res.statusCode = status
    for (const [name, value] of PHP_HEADERS) res.setHeader(name, value)
    res.setHeader('Content-Type', contentType)
    res.setHeader('Content-Length', Buffer.byteLength(body))
    if (ctx.setCookies.length > 0) res.setHeader('Set-Cookie', ctx.setCookies)
    res.end(body)
  }

  function redirect(ctx: Context, location: string): void {
    ctx.res.setHeader('Location', location)
    send(ctx, 302, '')
  }

  function page(ctx: Context, title: string, content: string): string {
    const { brand, host } = ctx
    const user = sessions.get(ctx.sessionId)
    const who = user === undefined
      ? '<a href="/login">Log in</a>'
      : `Signed in as <strong>${escapeHtml(user)}</strong> · <a href="/account">My account</a>`
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)} · ${escapeHtml(brand.name)}</title>
<style>body{font-family:sans-serif;margin:0}header{background:${brand.color};padding:1em}main{padding:1em}
nav a{margin-right:1em}footer{color:#777;font-size:small;padding:1em}</style>
<script>var xsrf=(document.cookie.match(/XSRF-TOKEN=([^;]+)/)||[])[1];</script>
</head>
<body>
<header><h1>${escapeHtml(brand.name)}</h1><p>${escapeHtml(brand.tagline)}</p>
<nav><a href="/">Home</a><a href="/search">Find a court</a><a href="/contact">Contact</a><a href="/password-reset">Forgotten password</a><a href="/admin">Administration</a></nav>
<p>${who}</p></header>
<main>
<h2>${escapeHtml(title)}</h2>
${content}
</main>
<footer>Served for host ${escapeHtml(host)}</footer>
</body>
</html>
`
  }

  function startSession(ctx: Context): void {
    // PHP's session_start() sends a cookie only when the client has none; XSRF-TOKEN follows the same rule here.
    const current = ctx.cookies.get('PHPSESSID')
    if (current !== undefined && /^[0-9a-f]{32}$/.test(current)) {
      ctx.sessionId = current
      return
    }
    ctx.sessionId = randomBytes(16).toString('hex')
    ctx.setCookies.push(`PHPSESSID=${ctx.sessionId}; path=/`)
    ctx.setCookies.push(`XSRF-TOKEN=${randomBytes(20).toString('base64url')}; path=/`)
  }

  function rememberSession(id: string, user: string): void {
    sessions.delete(id)
    sessions.set(id, user)
    while (sessions.size > maxSessions) {
      const oldest = sessions.keys().next().value
      if (oldest === undefined) break
      sessions.delete(oldest)
    }
  }

  async function readForm(req: http.IncomingMessage): Promise<Map<string, string>> {
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > maxBodyBytes) throw new BodyTooLarge()
      chunks.push(chunk)
    }
    const text = Buffer.concat(chunks).toString('utf8')
    const fields = new Map<string, string>()
    const type = (req.headers['content-type'] ?? '').toLowerCase()
    if (type.startsWith('application/json')) {
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch {
        throw new BadBody()
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new BadBody()
      for (const [key, value] of Object.entries(parsed)) {
        if (typeof value === 'string') fields.set(key, value)
      }
      return fields
    }
    for (const [key, value] of new URLSearchParams(text)) {
      if (!fields.has(key)) fields.set(key, value)
    }
    return fields
  }

  function loginForm(ctx: Context, error: string | undefined, username = ''): string {
    const banner = error === undefined ? '' : `<p class="error" role="alert">${escapeHtml(error)}</p>\n`
    return page(ctx, 'Log in', `${banner}<form method="post" action="/login">
<label>Username <input name="username" value="${escapeHtml(username)}" autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit">Log in</button>
</form>`)
  }

  const routes: Record<string, Route> = {
    '/': {
      GET: (ctx) => {
        const courts = COURTS.slice(0, 4).map((c) => `<li>${escapeHtml(c)}: free from 18:00</li>`).join('\n')
        send(ctx, 200, page(ctx, 'Welcome', `<p>Welcome to ${escapeHtml(ctx.brand.name)}, reached at
<code>${escapeHtml(ctx.host)}</code>. Members book courts, lessons and tournaments online; guests can look up
free slots and contact the club.</p>
<h3>Tonight</h3>
<ul>
${courts}
</ul>
<h3>Club news</h3>
<p>The winter league starts next month. Sign-up sheets are at the club house and in your account. Lights on the
outdoor courts now stay on until 22:00. Please brush the clay courts after playing.</p>
<ul>
<li><a href="/login">Member login</a></li>
<li><a href="/account">My bookings</a></li>
<li><a href="/search?q=clay">Clay courts</a></li>
<li><a href="/password-reset">Reset my password</a></li>
<li><a href="/contact">Write to the club</a></li>
</ul>`))
      },
    },
    '/login': {
      GET: (ctx) => send(ctx, 200, loginForm(ctx, ctx.query.has('error') ? 'Please log in first.' : undefined)),
      POST: async (ctx) => {
        const form = await readForm(ctx.req)
        const username = form.get('username') ?? ''
        const password = form.get('password') ?? ''
        const expected = Object.hasOwn(users, username) ? users[username] : undefined
        if (expected === undefined || password !== expected) {
          stats.loginFailures++
          // Legacy behaviour the gateway's lockout relies on: a failed login is a 200 page with a marker text.
          send(ctx, 200, loginForm(ctx, INVALID_CREDENTIALS_TEXT, username))
          return
        }
        stats.loginSuccesses++
        // session_regenerate_id(): a fresh id after login, sent even if the client already had one.
        const fresh = randomBytes(16).toString('hex')
        sessions.delete(ctx.sessionId)
        ctx.sessionId = fresh
        rememberSession(fresh, username)
        const expires = new Date(Date.now() + REMEMBER_ME_SECONDS * 1000).toUTCString()
        // Replace a PHPSESSID line startSession() queued, so the client gets exactly one session cookie.
        const queued = ctx.setCookies.findIndex((line) => line.startsWith('PHPSESSID='))
        if (queued !== -1) ctx.setCookies.splice(queued, 1)
        ctx.setCookies.push(`PHPSESSID=${fresh}; path=/`)
        ctx.setCookies.push(
          `remember_me=${randomBytes(24).toString('base64url')}; expires=${expires}; Max-Age=${REMEMBER_ME_SECONDS}; path=/; domain=${ctx.host}`,
        )
        redirect(ctx, '/account')
      },
    },
    '/account': {
      GET: (ctx) => {
        const user = sessions.get(ctx.sessionId)
        if (user === undefined) {
          redirect(ctx, '/login?error=1')
          return
        }
        send(ctx, 200, page(ctx, 'My account', `<p>Hello ${escapeHtml(user)}.</p>
<h3>Your bookings</h3>
<ul><li>${escapeHtml(COURTS[0] ?? '')}, Saturday 10:00</li><li>${escapeHtml(COURTS[4] ?? '')}, Tuesday 19:00</li></ul>`))
      },
    },
    '/password-reset': {
      GET: (ctx) => send(ctx, 200, page(ctx, 'Forgotten password', `<form method="post" action="/password-reset">
<label>E-mail <input type="email" name="email" autocomplete="email"></label>
<button type="submit">Send me a reset link</button>
</form>`)),
      POST: async (ctx) => {
        await readForm(ctx.req)
        // Same answer for every address, so the form does not reveal which accounts exist.
        send(ctx, 200, page(ctx, 'Forgotten password', `<p>${escapeHtml(RESET_SENT_TEXT)}</p>`))
      },
    },
    '/contact': {
      GET: (ctx) => send(ctx, 200, page(ctx, 'Contact', `<form method="post" action="/contact">
<label>E-mail <input type="email" name="email"></label>
<label>Message <textarea name="message"></textarea></label>
<button type="submit">Send</button>
</form>`)),
      POST: async (ctx) => {
        const form = await readForm(ctx.req)
        const email = form.get('email') ?? ''
        const message = form.get('message') ?? ''
        if (email === '' || message === '') {
          send(ctx, 400, page(ctx, 'Contact', '<p class="error">Please give your e-mail address and a message.</p>'))
          return
        }
        send(ctx, 200, page(ctx, 'Contact', `<p>Thank you. The club will answer at ${escapeHtml(email)}.</p>`))
      },
    },
    '/search': {
      GET: (ctx) => {
        const q = ctx.query.get('q') ?? ''
        const needle = q.toLowerCase()
        const found = COURTS.filter((c) => c.toLowerCase().includes(needle))
        const list = found.length === 0
          ? '<p>No court matches.</p>'
          : `<ul>\n${found.map((c) => `<li>${escapeHtml(c)}</li>`).join('\n')}\n</ul>`
        send(ctx, 200, page(ctx, 'Find a court', `<form method="get" action="/search">
<input name="q" value="${escapeHtml(q)}"><button type="submit">Search</button></form>
<p>Results for: <em>${escapeHtml(q)}</em></p>
${list}`))
      },
    },
    '/admin': {
      GET: (ctx) => send(ctx, 200, page(ctx, 'Admin panel', `<p>Club administration: members, courts, invoices.</p>
<ul><li>Members: 214</li><li>Unpaid invoices: 7</li><li><a href="/admin">Export members (CSV)</a></li></ul>`)),
    },
    '/echo': {
      GET: (ctx) => {
        const { req } = ctx
        const body = JSON.stringify({
          method: req.method,
          url: req.url,
          httpVersion: req.httpVersion,
          headers: req.headers,
        })
        send(ctx, 200, body, 'application/json')
      },
    },
    '/health': {
      GET: (ctx) => send(ctx, 200, 'ok', 'text/plain; charset=UTF-8'),
    },
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    stats.requests++
    const target = req.url ?? '/'
    const q = target.indexOf('?')
    const host = hostWithoutPort(req.headers.host)
    const ctx: Context = {
      req,
      res,
      host,
      brand: brandFor(host),
      path: q === -1 ? target : target.slice(0, q),
      query: new URLSearchParams(q === -1 ? '' : target.slice(q + 1)),
      cookies: parseCookieHeader(req.headers.cookie),
      setCookies: [],
      sessionId: '',
    }
    startSession(ctx)
    const route = Object.hasOwn(routes, ctx.path) ? routes[ctx.path] : undefined
    if (route === undefined) {
      send(ctx, 404, page(ctx, 'Page not found', `<p>Nothing at ${escapeHtml(ctx.path)}.</p>`))
      return
    }
    // node:http drops the body of HEAD responses itself, so HEAD shares the GET handler.
    const method = req.method === 'HEAD' ? 'GET' : req.method
    const handler = method === 'GET' || method === 'POST' ? route[method] : undefined
    if (handler === undefined) {
      res.setHeader('Allow', Object.keys(route).join(', '))
      send(ctx, 405, page(ctx, 'Method not allowed', '<p>This page does not accept that method.</p>'))
      return
    }
    try {
      await handler(ctx)
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        res.setHeader('Connection', 'close')
        send(ctx, 413, page(ctx, 'Request too large', '<p>The request body is too large.</p>'))
      } else if (err instanceof BadBody) {
        send(ctx, 400, page(ctx, 'Bad request', '<p>The request body is not a JSON object.</p>'))
      } else {
        throw err
      }
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      // A client that hangs up mid-body lands here; there is nobody left to answer.
      if (!res.headersSent) {
        res.statusCode = 500
        res.end()
      } else {
        res.destroy()
      }
    })
  })
  return Object.assign(server, { stats })
}

/** Creates the demo app and listens on `host:port` (port 0 picks a free port). */
export async function startDemoApp(
  { port, host = '127.0.0.1', ...options }: { port: number, host?: string } & DemoAppOptions,
): Promise<StartedDemoApp> {
  const server = createDemoApp(options)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const bound = (server.address() as AddressInfo).port
  let closing: Promise<void> | undefined
  return {
    server,
    port: bound,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        // Keep-alive sockets would hold close() open until their idle timeout.
        server.closeIdleConnections()
        setTimeout(() => server.closeAllConnections(), 1000).unref()
      })
      return closing
    },
  }
}
