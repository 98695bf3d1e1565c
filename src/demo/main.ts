#!/usr/bin/env node
/**
 * Command-line entry of the demo legacy app: `node dist/src/demo/main.js [--port 3000] [--host 127.0.0.1]`.
 *
 * Contract: logs one line once listening (with the bound port, so `--port 0` is usable), and on SIGTERM or SIGINT
 * closes the server and exits 0. A bad argument or a port that cannot be bound exits 1 with a message on stderr.
 */
import { parseArgs } from 'node:util'
import { startDemoApp } from './app.js'

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '3000' },
      host: { type: 'string', default: '127.0.0.1' },
    },
    strict: true,
  })
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port must be an integer from 0 to 65535, got "${values.port}"`)
  }
  const app = await startDemoApp({ port, host: values.host })
  const origin = `http://${values.host.includes(':') ? `[${values.host}]` : values.host}:${app.port}`
  process.stdout.write(
    `demo app listening on ${origin} (try ballejaune.localhost:${app.port}, openresa.localhost:${app.port})\n`,
  )
  const stop = (): void => {
    app.close().then(() => process.exit(0), () => process.exit(1))
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

main().catch((err: unknown) => {
  process.stderr.write(`demo app: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
