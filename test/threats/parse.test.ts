import t from 'tap'
import { forEachCookie, forEachQueryParam } from '../../src/threats/parse.js'

function params(raw: string): Array<[string, string, string]> {
  const out: Array<[string, string, string]> = []
  forEachQueryParam(raw, (n, v, w) => out.push([n, v, w]))
  return out
}

function cookies(header: string): Array<[string, string]> {
  const out: Array<[string, string]> = []
  forEachCookie(header, (n, v) => out.push([n, v]))
  return out
}

t.test('query strings', async (t) => {
  const table: Array<[string, Array<[string, string, string]>]> = [
    ['', []],
    ['a=1', [['a', '1', '1']]],
    ['a=1&b=2&c', [['a', '1', '1'], ['b', '2', '2'], ['c', '', '']]],
    ['q=select+court+3', [['q', 'select court 3', 'select+court+3']]],
    ['q=%27%20or%201%3D1', [['q', "' or 1=1", '%27%20or%201%3D1']]],
    ['x=a=b', [['x', 'a=b', 'a=b']]],
    ['&&a=1&', [['a', '1', '1']]],
    ['n%5B%5D=v', [['n[]', 'v', 'v']]],
    ['=v', [['', 'v', 'v']]],
  ]
  for (const [raw, want] of table) t.same(params(raw), want, JSON.stringify(raw))
})

t.test('cookie headers', async (t) => {
  const table: Array<[string, Array<[string, string]>]> = [
    ['', []],
    ['a=1', [['a', '1']]],
    ['PHPSESSID=abc; lang=fr;  _ga=GA1.2.3', [['PHPSESSID', 'abc'], ['lang', 'fr'], ['_ga', 'GA1.2.3']]],
    ['q="quoted value"', [['q', 'quoted value']]],
    ['a=%27x', [['a', '%27x']]], // not decoded here
    ['novalue; ;x=1', [['', 'novalue'], ['x', '1']]],
    ['a=b=c', [['a', 'b=c']]],
  ]
  for (const [raw, want] of table) t.same(cookies(raw), want, JSON.stringify(raw))
})

t.test('parsing stays linear on pathological input', async (t) => {
  const raw = 'a&'.repeat(50_000)
  const start = performance.now()
  let n = 0
  forEachQueryParam(raw, () => n++)
  forEachCookie('a;'.repeat(50_000), () => n++)
  t.equal(n, 100_000)
  t.ok(performance.now() - start < 250, 'parses 100k pairs quickly')
})
