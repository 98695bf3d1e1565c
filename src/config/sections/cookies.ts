/**
 * Config section `cookies`: how Rampart hardens every Set-Cookie an upstream sends.
 *
 * `Cookies` is the top level (with defaults). `SiteCookies` is the same shape with every field optional and no
 * defaults, for `sites[].cookies`: a site states only what differs. The schema checks the shape; values it cannot
 * judge alone (a fixed cookie domain against the site's hosts, glob and regex patterns) are checked by
 * `checkCookiesConfig` in `src/cookies/rewrite.ts`.
 */
import { Type, type Static, type TUnsafe, type TOptional } from '@sinclair/typebox'
import { Strict, Enum, FailMode } from '../types.js'

export const SAME_SITE_VALUES = ['Strict', 'Lax', 'None', 'off'] as const
export type SameSiteSetting = (typeof SAME_SITE_VALUES)[number]

const SameSite = (withDefault: boolean) => Enum(SAME_SITE_VALUES, {
  ...(withDefault ? { default: 'Lax' } : {}),
  description: 'The least strict SameSite a cookie may have. A stricter upstream value is kept; a missing, invalid or weaker '
    + 'one is replaced. `None` always comes with `Secure`. `off`: the upstream\'s SameSite is left alone. Lax by default: '
    + 'cross-site requests that change state (CSRF) go without the cookie, links from other sites still work.',
})

const Domain = (withDefault: boolean) => Type.String({
  ...(withDefault ? { default: 'keep-if-inside' } : {}),
  minLength: 1,
  description: '`keep-if-inside`: an upstream Domain is kept when it lies inside the site (one of its hosts, or a host\'s '
    + 'parent) and covers the request host; otherwise it is removed (the cookie becomes host-only). `drop`: every cookie is '
    + 'host-only. A domain name (e.g. `club.example`): it replaces any Domain the upstream set. A Domain outside the '
    + 'site is never passed on.',
})

const PathRule = Strict({
  from: Type.String({ pattern: '^/', description: 'Path prefix the upstream uses, e.g. `/app`.' }),
  to: Type.String({ pattern: '^/', description: 'What it becomes, e.g. `/`.' }),
})

export interface CookiePathObject {
  set?: string
  rewrite?: Array<{ from: string; to: string }>
}
export type CookiePathSetting = string | CookiePathObject

const Path = Type.Unsafe<CookiePathSetting>({
  description: 'A string (`/`) sets that Path on every cookie. `{ rewrite: [{ from, to }] }` rewrites a Path prefix, like '
    + 'nginx `proxy_cookie_path`. Absent: the upstream\'s Path is kept.',
  type: ['string', 'object'],
  pattern: '^/',
  properties: {
    set: { type: 'string', pattern: '^/', description: 'Path set on every cookie.' },
    rewrite: { type: 'array', items: PathRule, description: 'First rule whose `from` is a prefix of the cookie\'s Path wins.' },
  },
  additionalProperties: false,
})

/** What an exception may change for the cookies it matches. `Secure` is not among them: it is always forced. */
function ruleFields() {
  return {
    httpOnly: Type.Optional(Type.Boolean({ description: '`false`: do not add HttpOnly (a script must read this cookie).' })),
    sameSite: Type.Optional(SameSite(false)),
    domain: Type.Optional(Domain(false)),
  }
}

export const CookieRule = Strict(ruleFields())
export const CookieRuleWithMatch = Strict({
  match: Type.String({
    minLength: 1,
    description: 'Cookie name: exact, a glob (`wordpress_logged_in_*`, `?` = one character), or a regex between slashes (`/^wp_/`, `/^wp_/i`).',
  }),
  ...ruleFields(),
})

export type CookieRuleConfig = Static<typeof CookieRule>
export type CookieRuleWithMatchConfig = Static<typeof CookieRuleWithMatch>
export type CookieExceptSetting = Record<string, CookieRuleConfig> | CookieRuleWithMatchConfig[]

/** `{ NAME: rule }` for exact names, or a list of `{ match, ...rule }` (first match wins). One schema, two shapes. */
const Except = (withDefault: boolean): TUnsafe<CookieExceptSetting> => Type.Unsafe<CookieExceptSetting>({
  ...(withDefault ? { default: {} } : {}),
  description: 'Per-cookie exceptions. `{ XSRF-TOKEN: { httpOnly: false } }` or `[{ match: "wp_*", sameSite: None }]`. '
    + 'A site\'s exceptions are tried before the top-level ones.',
  type: ['object', 'array'],
  additionalProperties: CookieRule,
  items: CookieRuleWithMatch,
})

function cookieFields(withDefaults: boolean) {
  const def = (value: unknown) => (withDefaults ? { default: value } : {})
  return {
    enabled: Type.Boolean({
      ...def(true),
      description: 'Harden Set-Cookie. `false` passes cookies unchanged, except invalid lines, which are always dropped.',
    }),
    secure: Type.Boolean({
      ...def(true),
      description: 'Add `Secure`: the cookie never travels over plain HTTP. `__Secure-`/`__Host-` cookies, `SameSite=None` and '
        + '`Partitioned` get it regardless.',
    }),
    httpOnly: Type.Boolean({
      ...def(true),
      description: 'Add `HttpOnly`: scripts cannot read the cookie, so an XSS cannot steal a session. An upstream HttpOnly is never removed.',
    }),
    sameSite: SameSite(withDefaults),
    domain: Domain(withDefaults),
    path: Type.Optional(Path),
    except: Except(withDefaults),
    onError: FailMode({
      ...def('closed'),
      description: 'If rewriting a cookie fails unexpectedly: `closed` drops that cookie (never passes an unhardened one), `open` passes it unchanged.',
    }),
  }
}

/** The same fields, each optional and without a default: a site states only what differs. */
function optionalCookieFields() {
  const fields = cookieFields(false)
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, k === 'path' ? v : Type.Optional(v)])) as {
    [K in keyof typeof fields]: K extends 'path' ? (typeof fields)[K] : TOptional<(typeof fields)[K]>
  }
}

export const Cookies = Strict(cookieFields(true), {
  default: {},
  description: 'Set-Cookie hardening for every site. A site can change any field in `sites[].cookies`.',
})

export const SiteCookies = Strict(optionalCookieFields(), {
  description: 'This site\'s changes to the top-level `cookies` section. `except` entries are tried before the top-level ones.',
})

export type CookiesConfig = Static<typeof Cookies>
export type SiteCookiesConfig = Static<typeof SiteCookies>
