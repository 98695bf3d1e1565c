/**
 * The `rampart` command.
 *
 *   rampart start  [--config FILE]            run the gateway (foreground; SIGHUP reloads, SIGTERM drains)
 *   rampart check  [--config FILE]            validate the config and certificates, print every problem, exit 0/1
 *   rampart certs  --dev [--config FILE] [--force]
 *                                             write self-signed dev certificates for the configured hosts
 *   rampart demo   [--config FILE] [--demo-port N]
 *                                             dev certs if missing + the bundled demo app + the gateway
 *   rampart unlock [--config FILE] (--account NAME | --ip ADDR) [--site NAME] [--list]
 *                                             list or lift login locks in the configured Redis store
 *
 * FILE defaults to $RAMPART_CONFIG, else `rampart.yaml`. Exit codes: 0 ok, 1 invalid config or failed start, 2 usage.
 */
import { parseArgs } from 'node:util'
import { relative, resolve } from 'node:path'
import { loadConfigFile } from './config/load.js'
import { formatProblem } from './config/validate.js'
import { isRampartError } from './errors.js'
// The server, logger and certificate generator are imported by the commands that need them, so `check` and
// `help` start fast.

const USAGE = `usage:
  rampart start [--config FILE]
  rampart check [--config FILE]
  rampart certs --dev [--config FILE] [--force]
  rampart demo  [--config FILE] [--demo-port N]
  rampart unlock [--config FILE] (--account NAME | --ip ADDR) [--site NAME] [--list]   (or --list alone)
FILE defaults to $RAMPART_CONFIG, else rampart.yaml`

function out(line: string): void {
  process.stdout.write(`${line}\n`)
}
function err(line: string): void {
  process.stderr.write(`${line}\n`)
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv
  // `unlock` has flags of its own (src/cli/unlock.ts); it shares only --config with the other commands.
  if (command === 'unlock') return unlockCommand(rest)
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: [...rest],
      options: {
        config: { type: 'string', short: 'c' },
        dev: { type: 'boolean' },
        force: { type: 'boolean' },
        'demo-port': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values
  } catch (e) {
    err((e as Error).message)
    err(USAGE)
    return 2
  }
  const configPath = displayPath((values['config'] as string | undefined) ?? process.env['RAMPART_CONFIG'] ?? 'rampart.yaml')
  switch (command) {
    case 'check':
      return check(configPath)
    case 'certs':
      if (!values['dev']) {
        err('rampart certs only writes self-signed development certificates: pass --dev')
        return 2
      }
      return devCerts(configPath, Boolean(values['force']))
    case 'start':
      return start(configPath)
    case 'demo':
      return demo(configPath, Number(values['demo-port'] ?? 3000))
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out(USAGE)
      return command === undefined ? 2 : 0
    default:
      err(`unknown command: ${command}`)
      err(USAGE)
      return 2
  }
}

async function check(configPath: string): Promise<number> {
  const result = await loadConfigFile(configPath)
  if (!result.ok) {
    for (const p of result.problems) err(formatProblem(p))
    const n = result.problems.filter((p) => p.severity === 'error').length
    err(`${configPath}: ${n} error${n === 1 ? '' : 's'}; configuration is invalid`)
    return 1
  }
  for (const p of result.loaded.warnings) err(formatProblem(p))
  const c = result.loaded.config
  out(`${configPath}: configuration is valid (${c.sites.length} site${c.sites.length === 1 ? '' : 's'}, ` +
    `${c.tls.certificates.length} certificate${c.tls.certificates.length === 1 ? '' : 's'})`)
  return 0
}

async function devCerts(configPath: string, force: boolean): Promise<number> {
  const result = await loadConfigFile(configPath, { skipCertificates: true })
  if (!result.ok) {
    for (const p of result.problems) err(formatProblem(p))
    return 1
  }
  const { config, baseDir } = result.loaded
  const { ensureDevCerts, devCertRequests } = await import('./tls/devcerts.js')
  const written = await ensureDevCerts(devCertRequests(config.tls.certificates, baseDir), force)
  for (const w of written) out(`wrote ${w} (self-signed, for development only)`)
  if (written.length === 0) out('all certificates exist; use --force to replace them')
  return 0
}

async function start(configPath: string): Promise<number> {
  const pre = await loadConfigFile(configPath, { skipCertificates: true })
  const level = pre.ok ? pre.loaded.config.log.level : 'info'
  const { createLogger } = await import('./log/logger.js')
  const { startRuntime, ConfigError } = await import('./server/runtime.js')
  const cluster = (await import('node:cluster')).default
  const logger = createLogger({ level })
  try {
    if (cluster.isWorker) {
      const { runWorker } = await import('./cluster/worker.js')
      guardProcess(logger, 'worker')
      await runWorker(configPath, logger)
      return -1
    }
    const { workerCount, runPrimary } = await import('./cluster/primary.js')
    if (pre.ok && workerCount(pre.loaded.config) > 1) {
      await runPrimary(configPath, logger, { handleSignals: true })
      return -1
    }
    guardProcess(logger, 'single')
    await startRuntime({ configPath, logger, handleSignals: true })
    return -1 // keep running
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) err(formatProblem(p))
      logger.fatal({ code: e.code }, 'configuration is invalid; not starting')
    } else if (isRampartError(e)) {
      logger.fatal({ code: e.code }, e.message)
    } else {
      logger.fatal({ code: 'RAMPART_ERR_LIFECYCLE_UNCAUGHT', err: e }, 'failed to start')
    }
    logger.flush()
    return 1
  }
}

/**
 * An error that escapes every handler leaves the process in an unknown state: log it and exit non-zero. In a
 * cluster the primary starts a replacement worker at once; a single process relies on its supervisor (Docker's
 * restart policy, systemd). Request errors never get here: the gateway answers them with a 500 page.
 */
function guardProcess(logger: { fatal: (o: object, m: string) => void; flush: () => void }, mode: string): void {
  process.on('uncaughtException', (err) => {
    logger.fatal({ code: 'RAMPART_ERR_LIFECYCLE_UNCAUGHT', mode, err }, 'uncaught exception; exiting')
    logger.flush()
    process.exit(1)
  })
  process.on('unhandledRejection', (err) => {
    logger.fatal({ code: 'RAMPART_ERR_LIFECYCLE_UNCAUGHT', mode, err }, 'unhandled promise rejection; exiting')
    logger.flush()
    process.exit(1)
  })
}

async function demo(configPath: string, demoPort: number): Promise<number> {
  const pre = await loadConfigFile(configPath, { skipCertificates: true })
  if (!pre.ok) {
    for (const p of pre.problems) err(formatProblem(p))
    return 1
  }
  const { config, baseDir } = pre.loaded
  const { ensureDevCerts, devCertRequests } = await import('./tls/devcerts.js')
  const written = await ensureDevCerts(devCertRequests(config.tls.certificates, baseDir))
  for (const w of written) out(`generated dev certificate ${w}`)
  const { startDemoApp } = await import('./demo/app.js')
  const app = await startDemoApp({ port: demoPort, host: '127.0.0.1' })
  out(`demo legacy app on http://127.0.0.1:${app.port}`)
  const code = await start(configPath)
  if (code === 1) {
    await app.close()
    return 1
  }
  const https = config.listen.https.port
  out(`Rampart is up. Try:  curl -k https://localhost:${https}/   (or https://ballejaune.localhost:${https}/)`)
  process.once('SIGTERM', () => void app.close())
  process.once('SIGINT', () => void app.close())
  return -1
}

async function unlockCommand(argv: readonly string[]): Promise<number> {
  // Loaded here, like the server for `start`: ioredis is not worth loading for the other commands.
  const { parseUnlockArgs, runUnlock } = await import('./cli/unlock.js')
  const { createStore, redisConnectionOf } = await import('./store/create.js')
  const { RedisStore } = await import('./store/redis.js')
  const { createAuditHub } = await import('./lockout/audit.js')
  let config: string | undefined
  const own: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--config' || a === '-c') config = argv[++i] ?? ''
    else if (a.startsWith('--config=')) config = a.slice('--config='.length)
    else own.push(a)
  }
  if (config === '') {
    err('--config needs a value')
    return 2
  }
  const parsed = parseUnlockArgs(own)
  if (!parsed.ok) {
    err(parsed.message)
    return 2
  }
  const configPath = displayPath(config ?? process.env['RAMPART_CONFIG'] ?? 'rampart.yaml')
  const result = await loadConfigFile(configPath, { skipCertificates: true })
  if (!result.ok) {
    for (const p of result.problems) err(formatProblem(p))
    return 1
  }
  const storeConfig = result.loaded.config.store
  if (redisConnectionOf(storeConfig) === undefined) {
    err(`${configPath}: store.redis is not set: locks live in the memory of the running gateway and end with it; there is nothing to list or lift from here`)
    return 1
  }
  const store = createStore(storeConfig)
  try {
    // The store never waits for Redis by itself (requests must not); an operator command may.
    if (store instanceof RedisStore) await store.waitReady(storeConfig.connectTimeout)
    // The audit line goes to stderr as JSON; stdout stays for the operator.
    const { createLogger } = await import('./log/logger.js')
    const logger = createLogger({ level: 'info', destination: process.stderr })
    const audit = createAuditHub()
    audit.on((e) => {
      const { time, ...fields } = e
      logger.info({ ...fields, audit: true, at: time }, 'lock lifted')
    })
    return await runUnlock(store, parsed.args, { keySecret: storeConfig.keySecret, now: Date.now(), print: out, audit })
  } catch (e) {
    err(`error: ${(e as Error).message}`)
    return 1
  } finally {
    await store.close()
  }
}

/** Relative to the working directory when inside it, so messages read like a compiler's. */
function displayPath(p: string): string {
  const abs = resolve(p)
  const rel = relative(process.cwd(), abs)
  return rel && !rel.startsWith('..') ? rel : abs
}
