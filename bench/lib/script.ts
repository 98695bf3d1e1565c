/**
 * What the single-script bench targets share: the proxy command line, and stopping an HTTP server on a signal.
 *
 * `parseProxyArgs()` reads `--port <p> --upstream http://127.0.0.1:<u> --cert <pem> --key <pem> [--host <h>]` and
 * throws with the missing option. `stopOnSignals(server)` closes the server and its connections on SIGTERM/SIGINT,
 * then exits 0.
 */
import { parseArgs } from 'node:util'
import type { Server } from 'node:http'

export interface ProxyArgs {
  readonly port: number
  readonly host: string
  readonly upstream: string
  readonly cert: string
  readonly key: string
}

export function parseProxyArgs(argv: readonly string[] = process.argv.slice(2)): ProxyArgs {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      upstream: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
    },
  })
  const port = Number(values.port)
  if (!Number.isInteger(port) || port <= 0) throw new Error('--port is required')
  if (values.upstream === undefined || values.cert === undefined || values.key === undefined) {
    throw new Error('--upstream, --cert and --key are required')
  }
  return { port, host: values.host ?? '127.0.0.1', upstream: values.upstream, cert: values.cert, key: values.key }
}

export function stopOnSignals(server: Server): void {
  const stop = (): void => {
    server.close(() => process.exit(0))
    server.closeAllConnections()
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}
