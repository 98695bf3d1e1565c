#!/usr/bin/env node
/** Entry point of the `rampart` executable; all logic is in cli.ts. */
import { main } from './cli.js'

main(process.argv.slice(2)).then((code) => {
  // -1: a long-running command (start, demo) keeps the process alive until a signal.
  if (code >= 0) process.exitCode = code
}, (e: unknown) => {
  process.stderr.write(`rampart: ${(e as Error).stack ?? String(e)}\n`)
  process.exitCode = 1
})
