/**
 * The "bare Node proxy" benchmark target: node:https in front of an undici Pool, no framework.
 *
 * `node dist/bench/lib/node-proxy.js --port <p> --upstream http://127.0.0.1:<u> --cert <pem> --key <pem>`
 *
 * It does the same job as the other proxy rows and nothing more: forwards method, path and headers (hop-by-hop
 * removed, X-Forwarded-For set), streams the answer back without the upstream's `Server` and `X-Powered-By`, and
 * adds a fixed set of security headers precomputed at startup. No routing, no protections, no logging, no error
 * pages beyond a bare 502. It is the floor any Node gateway sits on: the difference between this row and Rampart
 * is what Rampart's own structure costs.
 */
import https from 'node:https'
import { readFileSync } from 'node:fs'
import { Pool } from 'undici'
import { parseProxyArgs, stopOnSignals } from './script.js'

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'server', 'x-powered-by'])
const SECURITY: ReadonlyArray<[string, string]> = [
  ['strict-transport-security', 'max-age=63072000; includeSubDomains'],
  ['x-content-type-options', 'nosniff'],
  ['x-frame-options', 'SAMEORIGIN'],
  ['referrer-policy', 'strict-origin-when-cross-origin'],
]

function main(): void {
  const args = parseProxyArgs()
  const pool = new Pool(args.upstream, { connections: 64, pipelining: 1, keepAliveTimeout: 60_000 })

  const server = https.createServer({ cert: readFileSync(args.cert), key: readFileSync(args.key) }, (req, res) => {
    const headers: Record<string, string | string[] | undefined> = {}
    for (const name in req.headers) if (!HOP_BY_HOP.has(name)) headers[name] = req.headers[name]
    headers['x-forwarded-for'] = req.socket.remoteAddress ?? ''
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined
    pool.request({ method: req.method as 'GET', path: req.url ?? '/', headers, body: hasBody ? req : null }).then((up) => {
      const out: Record<string, string | string[]> = {}
      for (const name in up.headers) {
        const value = up.headers[name]
        if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value
      }
      for (const [name, value] of SECURITY) out[name] = value
      res.writeHead(up.statusCode, out)
      up.body.pipe(res)
    }, () => {
      res.writeHead(502, { 'content-type': 'text/plain' })
      res.end('bad gateway\n')
    })
  })
  server.keepAliveTimeout = 65_000
  server.listen(args.port, args.host, () => {
    process.stdout.write(`node proxy listening on https://${args.host}:${args.port} → ${args.upstream}\n`)
  })
  stopOnSignals(server)
}

main()
