/**
 * The benchmark upstream: a stand-in for a PHP page, run as its own process.
 *
 * `node dist/bench/lib/upstream.js --port <p> [--cert <pem> --key <pem>]`
 *
 * Every request gets the same ~2 KB HTML page with two Set-Cookie headers and the `Server: Apache` /
 * `X-Powered-By: PHP/8.2` pair a legacy app sends, over keep-alive. Without `--cert` it serves plain HTTP (the
 * upstream every proxy forwards to); with `--cert`/`--key` it serves the same page over `node:https` itself, which is
 * the reference for "TLS in Node with nothing in between". Headers and body are built once at startup. The page
 * contains `BENCH_PAGE_MARKER` (see page.ts) so the run can check a proxy really delivered it. Exits 0 on SIGTERM/SIGINT.
 */
import http from 'node:http'
import https from 'node:https'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { buildBenchPage } from './page.js'
import { stopOnSignals } from './script.js'

function main(): void {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      cert: { type: 'string' },
      key: { type: 'string' },
    },
  })
  const port = Number(values.port)
  if (!Number.isInteger(port) || port <= 0) throw new Error('--port is required')

  const body = Buffer.from(buildBenchPage(), 'utf8')
  const headers: http.OutgoingHttpHeaders = {
    'content-type': 'text/html; charset=UTF-8',
    'content-length': body.length,
    server: 'Apache',
    'x-powered-by': 'PHP/8.2',
    'set-cookie': [
      'PHPSESSID=0123456789abcdef0123456789abcdef; path=/',
      'XSRF-TOKEN=bench-token-value; path=/',
    ],
  }
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    // Drain any request body so the connection stays reusable.
    req.resume()
    res.writeHead(200, headers)
    res.end(body)
  }

  const tls = values.cert !== undefined && values.key !== undefined
    ? { cert: readFileSync(values.cert), key: readFileSync(values.key) }
    : undefined
  const server = tls === undefined ? http.createServer(handler) : https.createServer(tls, handler)
  // Longer than any client's idle gap during a run, so keep-alive connections are never closed under load.
  server.keepAliveTimeout = 65_000
  server.listen(port, values.host, () => {
    process.stdout.write(`upstream listening on ${tls === undefined ? 'http' : 'https'}://${values.host}:${port}\n`)
  })
  stopOnSignals(server)
}

main()
