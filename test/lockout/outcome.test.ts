/** detectLoginOutcome: the failed-login detector, table-driven over status, Location, body marker and cookies. */
import t from 'tap'
import { compileOutcomeMatchers, detectLoginOutcome, setsCookie, BODY_SCAN_LIMIT, type FailureConfig, type LoginResponse } from '../../src/lockout/outcome.js'

const NOW = Date.parse('2030-01-01T00:00:00Z')

t.test('detectLoginOutcome', async (t) => {
  const statusOnly: FailureConfig = { status: [401, 403] }
  const redirectApp: FailureConfig = { status: [], location: '^/login\\?error' }
  const markerApp: FailureConfig = { status: [], bodyContains: 'Invalid credentials' }
  const cookieApp: FailureConfig = { status: [401], bodyContains: 'Invalid credentials', successCookie: 'remember' }
  const page = (text: string) => Buffer.from(`<html><body>${text}</body></html>`)

  const table: Array<[string, FailureConfig, LoginResponse, string]> = [
    ['401 listed', statusOnly, { status: 401 }, 'failure'],
    ['403 listed', statusOnly, { status: 403 }, 'failure'],
    ['200 success', statusOnly, { status: 200 }, 'success'],
    ['302 success', statusOnly, { status: 302, location: '/home' }, 'success'],
    ['500 says nothing', statusOnly, { status: 500 }, 'unknown'],
    ['502 says nothing', statusOnly, { status: 502 }, 'unknown'],
    ['400 (CSRF) not listed', statusOnly, { status: 400 }, 'unknown'],
    ['429 from the app', statusOnly, { status: 429 }, 'unknown'],
    ['redirect to /login?error', redirectApp, { status: 302, location: '/login?error=1' }, 'failure'],
    ['redirect to /dashboard', redirectApp, { status: 302, location: '/dashboard' }, 'success'],
    ['redirect absolute URL: regex anchored on the path does not match', redirectApp, { status: 302, location: 'https://club.test/login?error' }, 'success'],
    ['no Location', redirectApp, { status: 302 }, 'success'],
    ['marker in the page', markerApp, { status: 200, body: page('<p class="err">Invalid credentials</p>') }, 'failure'],
    ['marker absent', markerApp, { status: 200, body: page('Welcome back') }, 'success'],
    ['marker case matters', markerApp, { status: 200, body: page('invalid credentials') }, 'success'],
    ['marker after 64 KB is not searched', markerApp, { status: 200, body: Buffer.concat([Buffer.alloc(BODY_SCAN_LIMIT, 0x20), Buffer.from('Invalid credentials')]) }, 'success'],
    ['marker ending exactly at 64 KB is found', markerApp, { status: 200, body: Buffer.concat([Buffer.alloc(BODY_SCAN_LIMIT - 19, 0x20), Buffer.from('Invalid credentials')]) }, 'failure'],
    ['no body kept', markerApp, { status: 200 }, 'success'],
    ['success cookie set', cookieApp, { status: 302, setCookie: ['PHPSESSID=abc; path=/', 'remember=tok; Max-Age=3600'] }, 'success'],
    ['success cookie absent: unknown, not success', cookieApp, { status: 302, setCookie: ['PHPSESSID=abc; path=/'] }, 'unknown'],
    ['failure sign wins over the success cookie', cookieApp, { status: 200, setCookie: 'remember=tok', body: page('Invalid credentials') }, 'failure'],
    ['status wins over the success cookie', cookieApp, { status: 401, setCookie: 'remember=tok' }, 'failure'],
    ['success cookie being deleted', cookieApp, { status: 302, setCookie: 'remember=; Max-Age=0' }, 'unknown'],
    ['success cookie expired', cookieApp, { status: 302, setCookie: 'remember=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT', now: NOW }, 'unknown'],
  ]
  for (const [name, config, response, want] of table) {
    t.equal(detectLoginOutcome(compileOutcomeMatchers(config), response), want, name)
  }
  t.equal(compileOutcomeMatchers(markerApp).needsBody, true, 'a marker needs the body')
  t.equal(compileOutcomeMatchers(statusOnly).needsBody, false, 'no marker: the wiring need not keep the body')
})

t.test('setsCookie', async (t) => {
  const table: Array<[string | string[] | undefined, boolean, number | undefined]> = [
    ['sid=abc', true, undefined],
    ['sid=abc; Path=/; HttpOnly', true, undefined],
    [' sid = abc ', true, undefined],
    ['sidx=abc', false, undefined],
    ['xsid=abc', false, undefined],
    ['sid=', false, undefined],
    ['sid=""', false, undefined],
    ['sid=deleted; expires=Thu, 01-Jan-1970 00:00:01 GMT', false, undefined],
    ['sid=abc; Max-Age=0', false, undefined],
    ['sid=abc; max-age=-1', false, undefined],
    ['sid=abc; Expires=Wed, 01 Jan 2031 00:00:00 GMT', true, NOW],
    ['sid=abc; Expires=Wed, 01 Jan 2020 00:00:00 GMT', false, NOW],
    ['sid=abc; Max-Age=60; Expires=Wed, 01 Jan 2020 00:00:00 GMT', true, NOW], // Max-Age wins
    [['a=1', 'sid=abc'], true, undefined],
    [[], false, undefined],
    [undefined, false, undefined],
  ]
  for (const [header, want, now] of table) t.equal(setsCookie(header, 'sid', now), want, JSON.stringify(header))
})
