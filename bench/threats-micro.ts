/**
 * Micro-benchmark of the threat engine on typical requests: a path, three query parameters, a Cookie header and a
 * browser User-Agent, plus a few variants (a search phrase, a form post, an attack). Prints the mean cost per
 * request in microseconds. Target: under 20 µs for the typical request.
 *
 *   node dist/bench/threats-micro.js [iterations]
 */
import { compileThreatEngine, DEFAULT_THREAT_SETTINGS } from '../src/threats/engine.js'
import type { ThreatInput } from '../src/threats/types.js'

const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36'
const COOKIES = 'PHPSESSID=9f86d081884c7d659a2feaa0c55ad015; lang=fr; _ga=GA1.2.1234567890.1699999999'

const cases: Array<[string, ThreatInput]> = [
  ['typical (path + 3 params + cookies + UA)', {
    path: '/reservations/court/3', query: 'date=2024-05-01&court=3&page=2', cookieHeader: COOKIES, userAgent: CHROME,
  }],
  ['search phrase with a quote', {
    path: '/members/search', query: "q=O%27Brien+select+court+3&sort=name&page=1", cookieHeader: COOKIES, userAgent: CHROME,
    referer: 'https://ballejaune.test/members',
  }],
  ['form post (4 fields)', {
    path: '/contact', query: '', cookieHeader: COOKIES, userAgent: CHROME,
    bodyFields: [['name', "Anne O'Brien"], ['email', 'anne@example.fr'], ['password', 'gT7#kQ2!vL9$'],
      ['message', "Bonjour, l'équipe — peut-on réserver le court 3 samedi à 18h ? Merci !"]],
  }],
  ['SQL injection attempt', {
    path: '/reservations', query: "id=1'+UNION+SELECT+password+FROM+users--&court=3", cookieHeader: COOKIES, userAgent: CHROME,
  }],
]

const iterations = Number(process.argv[2] ?? 200_000)
const engine = compileThreatEngine({ ...DEFAULT_THREAT_SETTINGS, mode: 'block' })

// The engine memoises User-Agent results; this case cycles through more distinct strings than the memo holds, so
// every request pays for inspecting its User-Agent (the worst case for the typical request).
const freshAgents = Array.from({ length: 4096 }, (_, i) => CHROME.replace('124.0.0.0', `124.0.${i}.${i % 97}`))
{
  const base = cases[0]![1]
  let sink = 0
  const run = (n: number) => {
    for (let i = 0; i < n; i++) sink += engine.scan({ ...base, userAgent: freshAgents[i & 4095]! }).score
  }
  run(20_000)
  const n = Math.max(1, iterations >> 2)
  const start = process.hrtime.bigint()
  run(n)
  const us = Number(process.hrtime.bigint() - start) / n / 1000
  console.log(`${'typical, User-Agent not memoised'.padEnd(42)} ${us.toFixed(2).padStart(7)} µs/request   (score ${sink})`)
}

for (const [name, input] of cases) {
  let sink = 0
  for (let i = 0; i < 20_000; i++) sink += engine.scan(input).score // warm-up
  const start = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) sink += engine.scan(input).score
  const ns = Number(process.hrtime.bigint() - start)
  const us = ns / iterations / 1000
  console.log(`${name.padEnd(42)} ${us.toFixed(2).padStart(7)} µs/request   (score ${sink / (iterations + 20_000)})`)
}
