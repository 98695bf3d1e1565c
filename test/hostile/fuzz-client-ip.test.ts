/**
 * Fuzzing client-address resolution (`resolveClientIp`) with arbitrary X-Forwarded-For chains (IPv4, IPv6,
 * IPv4-mapped, ports, brackets, zone ids, legacy forms like `127.1` or `0x7f.0.0.1`, garbage, empty hops, repeated
 * headers) and arbitrary sets of trusted proxies.
 *
 * Asserted for every input: it never throws; the result is a valid address; a peer that is not a trusted proxy is
 * the client whatever it sends; behind trusted proxies the result is what a right-to-left walk gives (the first hop
 * that is not a trusted proxy, stopping at the first malformed hop), so a client can never choose an address to the
 * left of an untrusted hop.
 */
import t from 'tap'
import fc from 'fast-check'
import { resolveClientIp } from '../../src/net/client-ip.js'
import { compileCidrSet, normalizeIp, parseIp, type CidrSet } from '../../src/net/cidr.js'

const TRUSTABLE = ['10.0.0.0/8', '127.0.0.1/32', '::1/128', '2001:db8::/32', '192.168.0.0/16', '::ffff:172.16.0.0/108', '0.0.0.0/0', '::/0']

const v4 = fc.ipV4()
const v6 = fc.ipV6()
const address = fc.oneof(
  v4, v6, v4.map((a) => `::ffff:${a}`),
  fc.constantFrom('10.1.2.3', '127.0.0.1', '::1', '192.168.1.1', '2001:db8::7', '::ffff:10.9.9.9', '172.16.0.5', '203.0.113.9'),
)
const weird = fc.constantFrom('127.1', '0x7f.0.0.1', '2130706433', '0177.0.0.1', '010.0.0.1', 'fe80::1%eth0', '[::1]', '[::1]:443',
  '[2001:db8::1', '1.2.3.4:80', '1.2.3.4:', '1.2.3.4.5', '::ffff:999.1.1.1', 'unknown', '_hidden', '', ' ', '"1.2.3.4"', 'for=1.2.3.4',
  '1.2.3.4\u0000', '١.٢.٣.٤', '::', '0.0.0.0', '255.255.255.255', 'ffff::ffff::1')
const hop = fc.oneof({ weight: 4, arbitrary: address }, { weight: 2, arbitrary: weird }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) })
const spaced = fc.tuple(fc.constantFrom('', ' ', '\t', '  '), hop, fc.constantFrom('', ' ')).map(([a, h, b]) => a + h + b)
const chain = fc.array(spaced, { maxLength: 8 })
const header: fc.Arbitrary<string | string[] | undefined> = fc.oneof(
  chain.map((c) => c.join(',')),
  fc.array(chain.map((c) => c.join(',')), { minLength: 1, maxLength: 3 }),
  fc.constant(undefined),
  fc.string({ maxLength: 60 }),
)
const remote = fc.oneof(address, fc.constantFrom('127.0.0.1', '::ffff:127.0.0.1', '10.0.0.1'))
const trusted = fc.subarray(TRUSTABLE, { maxLength: 4 }).map((list) => ({ list, set: compileCidrSet(list) }))

/** The walk the module header describes, written out independently: the expected client. */
function expected(peer: string, xff: string | string[] | undefined, set: CidrSet): string {
  const start = normalizeIp(peer)
  if (xff === undefined || set.size === 0 || !set.has(start)) return start
  const hops = (Array.isArray(xff) ? xff.join(',') : xff).split(',').map((h) => h.trim())
  let client = start
  for (const raw of hops.reverse()) {
    const bare = raw.startsWith('[') && raw.includes(']') ? raw.slice(1, raw.indexOf(']'))
      : /^[^:]+:[^:]*$/.test(raw) ? raw.slice(0, raw.indexOf(':')) : raw
    if (bare === '' || !parseIp(bare)) break
    client = normalizeIp(bare)
    if (!set.has(client)) break
  }
  return client
}

t.test('arbitrary X-Forwarded-For chains and trusted proxies', async (t) => {
  let overridden = 0
  fc.assert(fc.property(remote, header, trusted, (peer, xff, trust) => {
    const got = resolveClientIp(peer, xff, trust.set)
    if (!parseIp(got)) throw new Error(`not an address: ${JSON.stringify(got)}`)
    if (!trust.set.has(normalizeIp(peer)) && got !== normalizeIp(peer)) throw new Error(`an untrusted peer ${peer} was overridden by ${JSON.stringify(xff)}`)
    const want = expected(peer, xff, trust.set)
    if (got !== want) throw new Error(`peer ${peer}, XFF ${JSON.stringify(xff)}, trusted ${trust.list.join(' ')}: got ${got}, want ${want}`)
    if (got !== normalizeIp(peer)) overridden++
  }), { numRuns: 10_000 })
  t.ok(overridden > 500, `${overridden} of 10000 resolved through trusted proxies, each as the walk requires`)
})

t.test('fixed cases: spoofing attempts', async (t) => {
  const lb = compileCidrSet(['10.0.0.0/8'])
  t.equal(resolveClientIp('203.0.113.9', '127.0.0.1', lb), '203.0.113.9', 'an untrusted peer claiming loopback')
  t.equal(resolveClientIp('10.0.0.2', '1.1.1.1, 203.0.113.9', lb), '203.0.113.9', 'the left-most entry is the client\'s own claim: ignored')
  t.equal(resolveClientIp('10.0.0.2', '203.0.113.9, garbage, 10.0.0.3', lb), '10.0.0.3', 'a malformed hop stops the walk at the last good one')
  t.equal(resolveClientIp('::ffff:10.0.0.2', '[2001:db8::1]:443', lb), '2001:db8::1', 'a mapped peer is trusted; a bracketed hop loses its port')
  t.equal(resolveClientIp('10.0.0.2', ['198.51.100.1', '203.0.113.9'], lb), '203.0.113.9', 'repeated headers are one list, in order')
})
