/**
 * The locked answer. In mimic mode it must equal the configured copy of the application's failed-login answer byte
 * for byte, with nothing added: a locked account must look exactly like a wrong password.
 */
import t from 'tap'
import { compileLockedAnswer, buildLockedAnswer } from '../../src/lockout/answer.js'

const APP_FAILURE_PAGE = '<!doctype html>\n<html><body><form method="post"><p class="error">Identifiant ou mot de passe incorrect</p>\u00e9</form></body></html>\n'

t.test('mimic: byte-for-byte the configured answer, nothing else', async (t) => {
  const compiled = compileLockedAnswer({
    mode: 'mimic', status: 200, delay: 350,
    headers: { 'Cache-Control': 'no-store, no-cache', 'X-Frame-Options': 'SAMEORIGIN' },
    body: APP_FAILURE_PAGE, contentType: 'text/html; charset=UTF-8',
  }, [401])
  const a = buildLockedAnswer(compiled, 600_000)
  t.equal(a.status, 200)
  t.ok(a.body.equals(Buffer.from(APP_FAILURE_PAGE, 'utf8')), 'body bytes are identical')
  t.same(a.headers, {
    'cache-control': 'no-store, no-cache',
    'x-frame-options': 'SAMEORIGIN',
    'content-type': 'text/html; charset=UTF-8',
    'content-length': String(Buffer.byteLength(APP_FAILURE_PAGE)),
  }, 'exactly the configured headers, plus the length; no Retry-After')
  t.equal(buildLockedAnswer(compiled, 1), a, 'the same object whatever the lock: nothing varies with the lock state')
  t.equal(compiled.delayMs, 350)
  t.ok(Object.isFrozen(a) && Object.isFrozen(a.headers), 'frozen: the wiring cannot alter it by accident')
})

t.test('mimic defaults', async (t) => {
  const table: Array<[string, Parameters<typeof compileLockedAnswer>[0], number[], number, Record<string, string>]> = [
    ['status from the first failure status', { mode: 'mimic', headers: {}, body: 'x', delay: 0 }, [401, 403], 401, { 'content-type': 'text/html; charset=utf-8', 'content-length': '1' }],
    ['200 when failures are not signalled by status', { mode: 'mimic', headers: {}, body: 'x', delay: 0 }, [], 200, { 'content-type': 'text/html; charset=utf-8', 'content-length': '1' }],
    ['a redirecting app: Location copied', { mode: 'mimic', status: 302, headers: { Location: '/login?error=1' }, delay: 0 }, [], 302, { location: '/login?error=1', 'content-type': 'text/html; charset=utf-8', 'content-length': '0' }],
    ['content type from the header map', { mode: 'mimic', headers: { 'Content-Type': 'text/plain' }, body: '', delay: 0 }, [], 200, { 'content-type': 'text/plain', 'content-length': '0' }],
  ]
  for (const [name, config, statuses, status, headers] of table) {
    const a = buildLockedAnswer(compileLockedAnswer(config, statuses), 5000)
    t.equal(a.status, status, `${name}: status`)
    t.same(a.headers, headers, `${name}: headers`)
  }
})

t.test('json and 423 say so, with Retry-After', async (t) => {
  const json = buildLockedAnswer(compileLockedAnswer({ mode: 'json', headers: {}, delay: 0 }, [401]), 61_000)
  t.equal(json.status, 429)
  t.same(JSON.parse(json.body.toString()), { error: 'too_many_login_attempts' })
  t.match(json.headers, { 'content-type': 'application/json', 'retry-after': '61', 'cache-control': 'no-store' })

  const custom = buildLockedAnswer(compileLockedAnswer({ mode: 'json', status: 403, headers: {}, body: '{"ok":false}', delay: 0 }, []), 1)
  t.equal(custom.status, 403)
  t.equal(custom.body.toString(), '{"ok":false}')

  const locked = buildLockedAnswer(compileLockedAnswer({ mode: '423', headers: {}, delay: 0 }, [401]), 900_000)
  t.equal(locked.status, 423)
  t.match(locked.headers, { 'retry-after': '900', 'content-type': 'text/plain; charset=utf-8' })
  t.equal(locked.body.toString(), 'Locked\n')
})
