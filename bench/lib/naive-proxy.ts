/**
 * The "naive proxy" benchmark target: what one would write first with the official Fastify plugins.
 *
 * `node dist/bench/lib/naive-proxy.js --port <p> --upstream http://127.0.0.1:<u> --cert <pem> --key <pem>`
 *
 * Fastify 5 over HTTPS (HTTP/1.1), `@fastify/helmet` with its defaults for the security headers, and
 * `@fastify/http-proxy` forwarding everything to the upstream over its keep-alive undici pool. The upstream's
 * `Server` and `X-Powered-By` are dropped, like every other proxy row does; cookies are passed through untouched.
 * No logging. It is the baseline that shows what the gateway's own work costs on top of the same stack.
 */
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'
import helmet from '@fastify/helmet'
import httpProxy from '@fastify/http-proxy'
import { parseProxyArgs } from './script.js'

async function main(): Promise<void> {
  const args = parseProxyArgs()

  const app = Fastify({
    logger: false,
    https: { cert: readFileSync(args.cert), key: readFileSync(args.key) },
    keepAliveTimeout: 65_000,
  })
  await app.register(helmet)
  await app.register(httpProxy, {
    upstream: args.upstream,
    undici: { connections: 64, pipelining: 1, keepAliveTimeout: 60_000 },
    replyOptions: {
      rewriteHeaders: (headers) => {
        const { server: _server, 'x-powered-by': _poweredBy, ...rest } = headers as Record<string, unknown>
        return rest as typeof headers
      },
    },
  })
  await app.listen({ port: args.port, host: args.host })
  process.stdout.write(`naive proxy listening on https://${args.host}:${args.port} → ${args.upstream}\n`)
  const stop = (): void => {
    app.close().then(() => process.exit(0), () => process.exit(1))
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

main().catch((err: unknown) => {
  process.stderr.write(`naive proxy: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
