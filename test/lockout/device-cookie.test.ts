/** Device cookies: issue, verify (with every way a cookie can be wrong), serialise, and read from a Cookie header. */
import t from 'tap'
import { issueDeviceCookie, verifyDeviceCookie, serializeDeviceCookie, readCookie, deviceBinding, newDeviceId } from '../../src/lockout/device-cookie.js'

const SECRET = 'device-cookie-secret-0123456789abcdef'
const NOW = 1_700_000_000_000
const DAY = 86_400_000
const bob = deviceBinding('club', 'hash-of-bob')

t.test('a fresh cookie verifies for its account only', async (t) => {
  const c = issueDeviceCookie(SECRET, bob, NOW, 30 * DAY)
  t.match(c.value, /^v1\.[A-Za-z0-9_-]{22}\.[0-9a-z]+\.[A-Za-z0-9_-]{43}$/)
  t.notOk(c.value.includes('bob'), 'the user name is not in the cookie')
  t.equal(verifyDeviceCookie(SECRET, c.value, bob, NOW), c.id)
  t.equal(verifyDeviceCookie(SECRET, c.value, bob, NOW + 30 * DAY - 1000), c.id, 'valid until its expiry')

  const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1)
  const [v, id, exp, mac] = c.value.split('.') as [string, string, string, string]
  const table: Array<[string, string | undefined, string, number, string]> = [
    ['another account', c.value, deviceBinding('club', 'hash-of-eve'), NOW, SECRET],
    ['same account in another scope', c.value, deviceBinding('resa', 'hash-of-bob'), NOW, SECRET],
    ['expired', c.value, bob, NOW + 30 * DAY, SECRET],
    ['another secret', c.value, bob, NOW, 'another-secret-0123456789abcdef-xx'],
    ['tampered id', `${v}.${flip(id, 3)}.${exp}.${mac}`, bob, NOW, SECRET],
    ['extended expiry', `${v}.${id}.${(parseInt(exp, 36) + 86_400).toString(36)}.${mac}`, bob, NOW, SECRET],
    ['tampered mac', `${v}.${id}.${exp}.${flip(mac, 5)}`, bob, NOW, SECRET],
    ['truncated mac', `${v}.${id}.${exp}.${mac.slice(0, 20)}`, bob, NOW, SECRET],
    ['other version', `v2.${id}.${exp}.${mac}`, bob, NOW, SECRET],
    ['missing part', `${v}.${id}.${exp}`, bob, NOW, SECRET],
    ['extra part', `${c.value}.x`, bob, NOW, SECRET],
    ['bad id characters', `${v}.${'!'.repeat(22)}.${exp}.${mac}`, bob, NOW, SECRET],
    ['huge value', 'v1.' + 'a'.repeat(500), bob, NOW, SECRET],
    ['empty', '', bob, NOW, SECRET],
    ['absent', undefined, bob, NOW, SECRET],
  ]
  for (const [name, value, binding, now, secret] of table) t.equal(verifyDeviceCookie(secret, value, binding, now), undefined, name)
})

t.test('renewal keeps the device id', async (t) => {
  const first = issueDeviceCookie(SECRET, bob, NOW, DAY)
  const renewed = issueDeviceCookie(SECRET, bob, NOW + 1000, DAY, first.id)
  t.equal(renewed.id, first.id)
  t.not(renewed.value, first.value)
  t.not(newDeviceId(), newDeviceId(), 'new ids are random')
})

t.test('Set-Cookie value', async (t) => {
  const c = issueDeviceCookie(SECRET, bob, NOW, 30 * DAY)
  const header = serializeDeviceCookie('__Host-rampart-device', c, NOW)
  t.equal(header, `__Host-rampart-device=${c.value}; Path=/; Max-Age=${30 * 86_400}; HttpOnly; Secure; SameSite=Strict`)
  t.notMatch(header, /Domain=/i, 'no Domain: required by the __Host- prefix')
})

t.test('readCookie', async (t) => {
  const table: Array<[string | undefined, string | undefined]> = [
    ['__Host-rampart-device=v1.x', 'v1.x'],
    ['a=1; __Host-rampart-device=v1.x; b=2', 'v1.x'],
    ['a=1;__Host-rampart-device=v1.x', 'v1.x'],
    ['x__Host-rampart-device=v1.x', undefined],
    ['__Host-rampart-device-2=v1.x', undefined],
    ['__Host-rampart-device=first; __Host-rampart-device=second', 'first'],
    ['a=1; b', undefined],
    ['', undefined],
    [undefined, undefined],
  ]
  for (const [header, want] of table) t.equal(readCookie(header, '__Host-rampart-device'), want, String(header))
})
