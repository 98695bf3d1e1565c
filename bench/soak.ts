/**
 * Long-run checks of Rampart "all on": does it stay up and keep its memory flat?
 *
 *   node dist/bench/soak.js [--minutes 10]                          soak (default mode, 1 to 120 minutes)
 *   node dist/bench/soak.js --requests 1000000 [--limit-minutes 15]  memory flatness over N requests
 *
 * Both modes run the `rampart-on` variant of lib/targets.ts (header policy, cookie rewriting, a per-IP rate limit
 * with a limit never reached, counted in a private redis-server, threat detection in detect mode, the abuse
 * signals, the access log written to a file in the scratch directory, an access rule on /admin) with one worker,
 * in front of the bench upstream, all on 127.0.0.1.
 *
 * Soak (`--minutes M`): HTTP/1.1 over TLS by autocannon at 400 req/s over 20 connections, and HTTP/2 by a
 * node:http2 client in this process at 100 req/s over 4 sessions, both for M minutes. The private Redis is stopped
 * with SIGTERM at M/3 and 2M/3 and started again on the same port 5 s later. Rampart's RSS and CPU are sampled every
 * 10 s. It FAILS (exit 1) when
 *   - Rampart exited (its pid is gone) or did not answer a final GET with the upstream page;
 *   - the least-squares slope of its RSS over the second half of the run exceeds 1 MB/min (judged for runs of
 *     4 minutes or more: over a shorter half, one garbage collection moves RSS more than a leak would, so a
 *     1-minute run checks the harness, the restarts and liveness, not memory);
 *   - Redis holds no keys at the end, i.e. Rampart did not count there again after the last restart.
 *
 * Flatness (`--requests N`): unthrottled HTTP/1.1 autocannon load over 50 connections until N requests are
 * answered, or `--limit-minutes` (default 15) passes. RSS is read when N/5 requests are answered and after N; also
 * the peak (250 ms samples) and CPU µs per request. It FAILS (exit 1) when
 *   - Rampart exited or did not answer the final GET;
 *   - fewer than N requests were answered within the time limit;
 *   - RSS after N exceeds RSS after N/5 by more than 10 %, or exceeds 150 MB.
 *
 * Contract: loopback only; every load is bounded by its duration or amount and the whole run by a watchdog (the
 * run's length plus 3 minutes). All child processes are stopped and the scratch directory removed on success,
 * error, SIGINT and SIGTERM. The Markdown summary goes to stdout, progress to stderr, and the full results to
 * bench/results/soak-<mode>-<timestamp>.json (git ignores bench/results/). Exit 0 pass, 1 fail or error.
 */
import { readFile } from 'node:fs/promises'
import { cpus, totalmem, release } from 'node:os'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateBenchCertificate, type BenchCertificate } from './lib/certs.js'
import { stopAllChildren } from './lib/child.js'
import { inScratchRun, writeResults } from './lib/run-scope.js'
import { RssSampler, procAvailable, treeUsage } from './lib/cpu.js'
import { startSharedUpstream } from './lib/targets.js'
import { BenchRedis, redisCommand } from './lib/redis.js'
import { startAllOnRampart, type SoakTarget } from './lib/soak-target.js'
import { startH1Load } from './lib/soak-autocannon.js'
import { startH2Load } from './lib/soak-h2.js'
import { MB, UsageRecorder } from './lib/soak-usage.js'
import { flatnessFailures, rssTrend, soakFailures, type Liveness } from './lib/soak-stats.js'
import { summarizeLog } from './lib/soak-log.js'
import { formatFlatness, formatSoak, type CurvePoint } from './lib/soak-report.js'
import { intOption } from './lib/options.js'

const SAMPLE_MS = 10_000
const SLACK_SEC = 180
const SOAK = { h1Rate: 400, h1Connections: 20, h2Rate: 100, h2Sessions: 4, redisDownMs: 5000 } as const
const FLAT = { connections: 50 } as const
const REQUEST_TIMEOUT_SEC = 10

type Options =
  | { readonly mode: 'soak', readonly minutes: number }
  | { readonly mode: 'requests', readonly requests: number, readonly limitMinutes: number }

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: { minutes: { type: 'string' }, requests: { type: 'string' }, 'limit-minutes': { type: 'string' } },
    strict: true,
  })
  if (values.requests !== undefined) {
    if (values.minutes !== undefined) throw new Error('--minutes and --requests are two modes: give one')
    return {
      mode: 'requests',
      requests: intOption('requests', values.requests, 1_000_000, 1000, 100_000_000),
      limitMinutes: intOption('limit-minutes', values['limit-minutes'], 15, 1, 240),
    }
  }
  if (values['limit-minutes'] !== undefined) throw new Error('--limit-minutes applies to --requests only')
  return { mode: 'soak', minutes: intOption('minutes', values.minutes, 10, 1, 120) }
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

interface Running {
  readonly cert: BenchCertificate
  readonly redis: BenchRedis
  readonly target: SoakTarget
}

/** Records a curve point per sample with the answers so far, and prints a progress line. */
function curveRecorder(pid: number, answered: () => number): { recorder: UsageRecorder, curve: CurvePoint[] } {
  const curve: CurvePoint[] = []
  const recorder = new UsageRecorder(pid, SAMPLE_MS, (s) => {
    const point = { tSec: s.tSec, rssMb: s.rssMb, cpuPct: s.cpuPct, answered: answered() }
    curve.push(point)
    log(`  [${point.tSec.toFixed(0).padStart(4)} s] RSS ${point.rssMb.toFixed(1)} MB, CPU ${point.cpuPct.toFixed(0)} %, ${point.answered} answered`)
  })
  return { recorder, curve }
}

async function liveness(target: SoakTarget): Promise<Liveness> {
  return { samePid: !target.rampart.exited(), answering: await target.answersPage() }
}

function machineHeader(title: string): string[] {
  const cpu = cpus()
  return [
    `## ${title}`, '',
    `${new Date().toISOString()}; node ${process.version}, Linux ${release()}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ` +
      `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
  ]
}

async function runSoak(run: Running, minutes: number): Promise<{ text: string, failures: string[], json: unknown }> {
  const { target, redis } = run
  const durationMs = minutes * 60_000
  let answered = (): number => 0
  const { recorder, curve } = curveRecorder(target.rampart.pid, () => answered())
  const peak = new RssSampler(target.rampart.pid).start()
  recorder.start()
  const startedAt = Date.now()
  const h1 = startH1Load({
    url: target.url, host: target.host, connections: SOAK.h1Connections, durationSec: durationMs / 1000,
    overallRate: SOAK.h1Rate, timeoutSec: REQUEST_TIMEOUT_SEC,
  })
  const h2 = startH2Load({
    url: target.url, host: target.host, ca: await readFile(run.cert.certPath), sessions: SOAK.h2Sessions,
    ratePerSec: SOAK.h2Rate, durationMs, timeoutMs: REQUEST_TIMEOUT_SEC * 1000, maxInFlight: SOAK.h2Rate * REQUEST_TIMEOUT_SEC,
  })
  answered = () => h1.completed() + h2.completed()

  const redisEvents: Array<{ event: string, tSec: number }> = []
  const at = (): number => (Date.now() - startedAt) / 1000
  const restarts = (async () => {
    for (const fraction of [1 / 3, 2 / 3]) {
      await sleep(Math.max(0, startedAt + durationMs * fraction - Date.now()))
      await redis.stop()
      redisEvents.push({ event: 'Redis stopped (SIGTERM)', tSec: at() })
      log(`  Redis stopped at ${at().toFixed(0)} s`)
      await sleep(SOAK.redisDownMs)
      await redis.start()
      redisEvents.push({ event: `Redis started again on port ${redis.port}`, tSec: at() })
      log(`  Redis started again at ${at().toFixed(0)} s`)
    }
  })()
  const [h1Result, h2Result] = await Promise.all([h1.done, h2.done, restarts])
  recorder.stop()
  const peakMb = peak.stop() / MB

  const live = await liveness(target)
  const keys = Number((await redisCommand(redis.port, 'DBSIZE'))?.slice(1) ?? 0)
  const trend = rssTrend(recorder.samples)
  const failures = soakFailures(live, trend, keys)
  const logSummary = await summarizeLog(target.logFile)
  const protocols = [
    { protocol: 'HTTP/1.1', load: `autocannon, ${SOAK.h1Rate} req/s, ${SOAK.h1Connections} connections`, result: h1Result },
    { protocol: 'HTTP/2', load: `node:http2, ${SOAK.h2Rate} req/s, ${SOAK.h2Sessions} sessions`, result: h2Result },
  ]
  const header = [
    ...machineHeader(`Soak: Rampart all on, ${minutes} min`),
    `Load for ${minutes} min: ${protocols.map((p) => `${p.protocol} by ${p.load}`).join('; ')}. ` +
      `Redis stopped at 1/3 and 2/3 of the run and started again ${SOAK.redisDownMs / 1000} s later. ` +
      `Peak RSS (250 ms samples): ${peakMb.toFixed(1)} MB.`,
  ]
  const report = { header, curve, protocols, redisEvents, redisKeysAtEnd: keys, live, pid: target.rampart.pid, trend, log: logSummary, failures }
  return { text: formatSoak(report), failures, json: { ...report, peakRssMb: peakMb } }
}

async function runFlatness(run: Running, requests: number, limitMinutes: number): Promise<{ text: string, failures: string[], json: unknown }> {
  const { target, redis } = run
  const fifth = Math.floor(requests / 5)
  let rssAtFifthMb: number | undefined
  let answered = (): number => 0
  const { recorder, curve } = curveRecorder(target.rampart.pid, () => answered())
  const peak = new RssSampler(target.rampart.pid).start()
  const redisPid = redis.pid ?? -1
  const cpuBefore = treeUsage(target.rampart.pid).cpuMs
  const redisCpuBefore = treeUsage(redisPid).cpuMs
  recorder.start()
  const h1 = startH1Load({
    url: target.url, host: target.host, connections: FLAT.connections, amount: requests, timeoutSec: REQUEST_TIMEOUT_SEC,
    onResponse: (n) => {
      if (n === fifth) {
        rssAtFifthMb = recorder.sample().rssMb
        log(`  ${fifth} answered (N/5): RSS ${rssAtFifthMb.toFixed(1)} MB`)
      }
    },
  })
  answered = () => h1.completed()
  const limit = setTimeout(() => {
    log(`  time limit of ${limitMinutes} min reached: stopping the load`)
    h1.stop()
  }, limitMinutes * 60_000)
  const h1Result = await h1.done.finally(() => clearTimeout(limit))
  const rssAtEndMb = recorder.stop().at(-1)?.rssMb ?? 0
  const cpuUsPerReq = h1Result.completed > 0 ? ((treeUsage(target.rampart.pid).cpuMs - cpuBefore) * 1000) / h1Result.completed : 0
  const redisCpuUsPerReq = h1Result.completed > 0 ? ((treeUsage(redisPid).cpuMs - redisCpuBefore) * 1000) / h1Result.completed : 0
  const peakRssMb = peak.stop() / MB

  const live = await liveness(target)
  const failures = flatnessFailures(live, { target: requests, completed: h1Result.completed, rssAtFifthMb, rssAtEndMb })
  const protocols = [{ protocol: 'HTTP/1.1', load: `autocannon, unthrottled, ${FLAT.connections} connections`, result: h1Result }]
  const header = [
    ...machineHeader(`Memory flatness: Rampart all on, ${requests} requests`),
    `Load: HTTP/1.1 keep-alive over TLS by autocannon, ${FLAT.connections} connections, as fast as Rampart answers, ` +
      `until ${requests} answers or ${limitMinutes} min; ${h1Result.completed} answered in ${h1Result.durationSec.toFixed(0)} s ` +
      `(${(h1Result.completed / Math.max(h1Result.durationSec, 1)).toFixed(0)} req/s).`,
  ]
  const report = {
    header, curve, protocols, target: requests, rssAtFifthMb, rssAtEndMb, peakRssMb, cpuUsPerReq, redisCpuUsPerReq,
    live, pid: target.rampart.pid, log: await summarizeLog(target.logFile), failures,
  }
  return { text: formatFlatness(report), failures, json: report }
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2))
  if (!procAvailable()) throw new Error('the soak reads memory and CPU time from /proc and runs on Linux only')
  const runSec = opts.mode === 'soak' ? opts.minutes * 60 : opts.limitMinutes * 60
  const budgetSec = runSec + SLACK_SEC
  return inScratchRun('rampart-soak', budgetSec, log, async (tmpDir) => {
    const startedAt = new Date()
    log(opts.mode === 'soak'
      ? `soak: ${opts.minutes} min of fixed-rate HTTP/1.1 + HTTP/2 load, Redis restarted twice; at most ${budgetSec} s`
      : `flatness: ${opts.requests} requests, at most ${opts.limitMinutes} min of load; at most ${budgetSec} s`)
    const cert = await generateBenchCertificate(tmpDir)
    const upstream = await startSharedUpstream(tmpDir)
    const redis = await BenchRedis.create(tmpDir)
    if (redis === undefined) throw new Error('redis-server not installed: apt-get install redis-server')
    await redis.start()
    const target = await startAllOnRampart(tmpDir, cert, upstream.port, redis.url)
    log(`Rampart all on: pid ${target.rampart.pid}, ${target.url}; Redis on port ${redis.port}`)
    const run = { cert, redis, target }
    const outcome = opts.mode === 'soak' ? await runSoak(run, opts.minutes) : await runFlatness(run, opts.requests, opts.limitMinutes)
    process.stdout.write(`\n${outcome.text}\n`)

    const file = await writeResults(`soak-${opts.mode}-`, startedAt, {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      command: `node dist/bench/soak.js ${process.argv.slice(2).join(' ')}`.trim(),
      options: opts,
      machine: { node: process.version, kernel: release(), cpus: cpus().length, cpuModel: cpus()[0]?.model.trim(), totalMemBytes: totalmem() },
      passed: outcome.failures.length === 0,
      ...outcome.json as Record<string, unknown>,
    })
    log(`\nresults written to ${file}`)
    return outcome.failures.length === 0 ? 0 : 1
  })
}

main().then((code) => process.exit(code), async (err: unknown) => {
  log(`soak: ${err instanceof Error ? err.message : String(err)}`)
  await stopAllChildren()
  process.exit(1)
})
