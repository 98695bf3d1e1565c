/**
 * TLS over real sockets against a running gateway: versions, cipher policy, SNI, ALPN, session resumption, and
 * certificate reload without dropping an open connection.
 */
import t from 'tap'
import tls from 'node:tls'
import { X509Certificate } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startGateway, LISTEN_HTTPS_ONLY, h1 } from '../helpers/gateway.js'
import { startUpstream } from '../helpers/upstream.js'
import { makeCert } from '../helpers/certs.js'

const upstream = await startUpstream(t)
const gw = await startGateway(t, `${LISTEN_HTTPS_ONLY}
tls:
  certificates:
    - { hosts: [a.test, "*.a.test"], cert: a.pem, key: a-key.pem }
    - { hosts: [b.test], cert: b.pem, key: b-key.pem }
sites:
  - hosts: [a.test, "*.a.test", b.test]
    upstream: ${upstream.url}
`, { certs: { a: ['a.test', '*.a.test'], b: ['b.test'] } })
// A second gateway with an RSA certificate, so that a static-RSA key exchange could even be considered.
const rsa = await startGateway(t, `${LISTEN_HTTPS_ONLY}
tls:
  certificates:
    - { hosts: [r.test], cert: r.pem, key: r-key.pem }
sites:
  - hosts: [r.test]
    upstream: ${upstream.url}
`, { certs: { r: { hosts: ['r.test'], keyType: 'rsa' } } })

interface Hs { ok: boolean; error?: string; protocol?: string | null; cipher?: string; alpn?: string | false | null; cert?: X509Certificate; socket?: tls.TLSSocket; session?: Buffer; reused?: boolean }

function handshake(o: tls.ConnectionOptions & { keepOpen?: boolean }, port = gw.port): Promise<Hs> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: gw.ca, rejectUnauthorized: false, ...o })
    let session: Buffer | undefined
    socket.on('session', (s: Buffer) => { session = s })
    socket.once('secureConnect', () => {
      const peer = socket.getPeerX509Certificate()
      const result: Hs = {
        ok: true, protocol: socket.getProtocol(), cipher: socket.getCipher().name, alpn: socket.alpnProtocol,
        cert: peer, reused: socket.isSessionReused(), socket,
      }
      // TLS 1.3 tickets arrive just after the handshake.
      setTimeout(() => {
        result.session = session ?? socket.getSession()
        if (!o.keepOpen) socket.destroy()
        resolve(result)
      }, 50)
    })
    socket.once('error', (e) => resolve({ ok: false, error: `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}` }))
  })
}

t.test('protocol versions: 1.0 and 1.1 refused by the server, 1.2 and 1.3 accepted', async (t) => {
  for (const v of ['TLSv1', 'TLSv1.1'] as const) {
    // SECLEVEL=0 lets the client offer old versions, so the refusal we see is the server's alert.
    const r = await handshake({ servername: 'a.test', minVersion: v, maxVersion: v, ciphers: 'DEFAULT@SECLEVEL=0' })
    t.equal(r.ok, false, `${v} refused`)
    t.match(r.error, /alert protocol version|unsupported protocol/i, `${v}: refused by a protocol_version alert`)
  }
  const v12 = await handshake({ servername: 'a.test', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })
  t.equal(v12.protocol, 'TLSv1.2')
  t.match(v12.cipher, /^ECDHE-ECDSA-.*(GCM|CHACHA20)/, 'an ECDHE + AEAD suite')
  const v13 = await handshake({ servername: 'a.test', minVersion: 'TLSv1.3' })
  t.equal(v13.protocol, 'TLSv1.3')
})

t.test('cipher policy: CBC-only and static-RSA-only clients are refused', async (t) => {
  const cbc = await handshake({ servername: 'a.test', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA' })
  t.equal(cbc.ok, false, 'CBC suites only → refused')
  t.match(cbc.error, /handshake failure|no shared cipher/i)
  const rsaKx = await handshake({ servername: 'r.test', maxVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA' }, rsa.port)
  t.equal(rsaKx.ok, false, 'static RSA key exchange only (RSA certificate) → refused')
  t.match(rsaKx.error, /handshake failure|no shared cipher/i)
  const rsaCbc = await handshake({ servername: 'r.test', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384' }, rsa.port)
  t.equal(rsaCbc.ok, false, 'ECDHE-RSA with CBC only → refused')
  const rsaEcdhe = await handshake({ servername: 'r.test', maxVersion: 'TLSv1.2' }, rsa.port)
  t.match(rsaEcdhe.cipher, /^ECDHE-RSA-.*(GCM|CHACHA20)/, 'the RSA certificate is served with ECDHE + AEAD')
})

t.test('SNI picks the certificate; no SNI gets the default (first)', async (t) => {
  const cases: Array<[string | undefined, string]> = [
    ['a.test', 'a.test'], ['x.a.test', 'a.test'], ['X.A.TEST', 'a.test'], ['b.test', 'b.test'],
    ['unknown.test', 'a.test'], [undefined, 'a.test'],
  ]
  for (const [sni, cn] of cases) {
    const r = await handshake(sni === undefined ? {} : { servername: sni })
    t.ok(r.ok, `handshake for ${sni ?? 'no SNI'}`)
    t.match(r.cert?.subject, new RegExp(`CN=${cn.replace('.', '\\.')}`), `${sni ?? 'no SNI'} → ${cn}`)
  }
})

t.test('ALPN offers h2 with http/1.1 fallback', async (t) => {
  t.equal((await handshake({ servername: 'a.test', ALPNProtocols: ['h2', 'http/1.1'] })).alpn, 'h2')
  t.equal((await handshake({ servername: 'a.test', ALPNProtocols: ['http/1.1'] })).alpn, 'http/1.1')
})

t.test('sessions resume (TLS 1.2 and 1.3)', async (t) => {
  for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
    const first = await handshake({ servername: 'a.test', minVersion: v, maxVersion: v })
    t.equal(first.reused, false)
    t.ok(first.session, `${v}: got a session`)
    const second = await handshake({ servername: 'a.test', minVersion: v, maxVersion: v, session: first.session! })
    t.equal(second.reused, true, `${v}: second connection resumed`)
  }
})

t.test('reload: new connections get the new certificate, an open connection keeps working', async (t) => {
  const before = await handshake({ servername: 'b.test', keepOpen: true, ALPNProtocols: ['http/1.1'] })
  const oldFp = before.cert!.fingerprint256
  const socket = before.socket!
  const askOnOpen = () => new Promise<string>((resolve, reject) => {
    let buf = ''
    const onData = (d: Buffer) => {
      buf += d.toString()
      if (buf.includes('\r\n\r\n') && /"url":"\/again"/.test(buf)) {
        socket.off('data', onData)
        resolve(buf.split('\r\n')[0]!)
      }
    }
    socket.on('data', onData)
    socket.once('error', reject)
    socket.write('GET /again HTTP/1.1\r\nHost: b.test\r\n\r\n')
  })

  await makeCert(gw.dir, 'b', ['b.test'])
  const reloaded = await gw.runtime.reloadCertificates()
  t.equal(reloaded.ok, true)
  const after = await handshake({ servername: 'b.test' })
  t.not(after.cert!.fingerprint256, oldFp, 'a new connection sees the new certificate')
  t.equal(await askOnOpen(), 'HTTP/1.1 200 OK', 'the connection opened before the reload still serves requests')

  // A broken new certificate keeps the old one, and says so.
  writeFileSync(join(gw.dir, 'b.pem'), 'not a certificate')
  const broken = await gw.runtime.reloadCertificates()
  t.equal(broken.ok, false, 'reload refused')
  const still = await handshake({ servername: 'b.test' })
  t.equal(still.cert!.fingerprint256, after.cert!.fingerprint256, 'the previous certificate stays in use')
  t.ok(gw.logs.some((l) => l['code'] === 'RAMPART_ERR_TLS_RELOAD'), 'the failure is logged with its code')
  socket.destroy()
  const res = await h1(gw.port, { host: 'b.test', path: '/x', ca: gw.ca })
  t.equal(res.status, 200, 'requests still flow')
})

t.test('certificates that mix RSA and ECDSA keys are refused at load, with the reason', async (t) => {
  const { loadConfigFile } = await import('../../src/config/load.js')
  const { formatProblem } = await import('../../src/config/validate.js')
  const { writeFileSync: write } = await import('node:fs')
  await makeCert(gw.dir, 'mixr', ['r.test'], { keyType: 'rsa' })
  const file = join(gw.dir, 'mixed.yaml')
  write(file, `tls:
  certificates:
    - { hosts: [a.test], cert: a.pem, key: a-key.pem }
    - { hosts: [r.test], cert: mixr.pem, key: mixr-key.pem }
sites:
  - hosts: [a.test, r.test]
    upstream: http://127.0.0.1:1
`)
  const r = await loadConfigFile(file)
  t.equal(r.ok, false)
  if (!r.ok) t.match(formatProblem(r.problems[0]!), /:4 tls\.certificates\[1\]\.cert: certificate mixr\.pem has a RSA key but a\.pem has EC; use one key type/)
})

t.test('replacing certificate files (as certbot renewals do) reloads them without a signal', async (t) => {
  // (An earlier subtest left b.pem broken on purpose; a reload reads every certificate, so mend it first.)
  await makeCert(gw.dir, 'b', ['b.test'])
  await gw.runtime.reloadCertificates()
  const before = await handshake({ servername: 'a.test' })
  await makeCert(gw.dir, 'a', ['a.test', '*.a.test'])
  // The folder is watched; a change is applied after a short debounce. Bounded wait for the new certificate.
  let after = before
  for (let i = 0; i < 100 && after.cert!.fingerprint256 === before.cert!.fingerprint256; i++) {
    await new Promise((r) => setTimeout(r, 50))
    after = await handshake({ servername: 'a.test' })
  }
  t.not(after.cert!.fingerprint256, before.cert!.fingerprint256, 'new handshakes get the renewed certificate')
  t.ok(gw.logs.some((l) => l['msg'] === 'certificates reloaded'), 'the reload is logged')
})

t.test('other files written next to the certificates (logs, editor files) do not reload them', async (t) => {
  const reloads = (): number => gw.logs.filter((l) => l['msg'] === 'certificates reloaded').length
  const before = reloads()
  for (let i = 0; i < 5; i++) writeFileSync(join(gw.dir, 'access.log'), `line ${i}\n`, { flag: 'a' })
  // A certificate event would be applied after the 500 ms debounce: wait past it once, then compare.
  await new Promise((r) => setTimeout(r, 900))
  t.equal(reloads(), before, 'no reload for a file that is not a certificate or key')
  const same = await gw.runtime.reloadCertificates()
  t.equal(same.ok, true)
  t.equal(reloads(), before, 'a reload that finds the same certificates changes and logs nothing')
})
