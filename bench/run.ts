/**
 * The benchmark run: every scenario, one after the other, in one process, then one table of same-run ratios.
 *
 * `node dist/bench/run.js [--duration 10] [--connections 50] [--warmup 2] [--only id,id] [--list]`
 * (or BENCH_DURATION, BENCH_CONNECTIONS, BENCH_WARMUP, BENCH_ONLY).
 *
 * Contract: loopback only; every load is bounded by its duration, every start by a timeout, and the whole run by a
 * watchdog sized from the scenario count. All child processes are stopped and the scratch directory removed on
 * success, on error, and on SIGINT/SIGTERM. Prints the Markdown table on stdout (progress goes to stderr) and
 * writes the full results as JSON to bench/results/<timestamp>.json.
 */
import { cpus, totalmem, release } from 'node:os'
import { parseArgs } from 'node:util'
import { generateBenchCertificate } from './lib/certs.js'
import { measureLoad, H2_STREAMS } from './lib/load.js'
import { procAvailable, clockTicksPerSecond } from './lib/cpu.js'
import { findExecutable, probe, stopAllChildren } from './lib/child.js'
import { inScratchRun, writeResults } from './lib/run-scope.js'
import { SCENARIOS, TargetUnavailable, startSharedUpstream, type Scenario, type RunningTarget } from './lib/targets.js'
import { computeRatios, formatNotes, formatTable, type Row } from './lib/report.js'
import { BENCH_PAGE_MARKER } from './lib/page.js'
import { intOption, unsetIfEmpty } from './lib/options.js'

/** Time a target gets to start, and slack per scenario for probes, stop and the load client's own teardown. */
const STARTUP_BUDGET_SEC = 20
const SLACK_PER_SCENARIO_SEC = 15

interface Options {
  durationSec: number
  connections: number
  warmupSec: number
  only: string[] | undefined
  list: boolean
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      connections: { type: 'string' },
      warmup: { type: 'string' },
      only: { type: 'string' },
      list: { type: 'boolean', default: false },
    },
    strict: true,
  })
  const env = process.env
  const only = values.only ?? env.BENCH_ONLY
  return {
    durationSec: intOption('duration', unsetIfEmpty(values.duration ?? env.BENCH_DURATION), 10, 1, 600),
    connections: intOption('connections', unsetIfEmpty(values.connections ?? env.BENCH_CONNECTIONS), 50, 1, 5000),
    warmupSec: intOption('warmup', unsetIfEmpty(values.warmup ?? env.BENCH_WARMUP), 2, 0, 60),
    only: only === undefined || only === '' ? undefined : only.split(',').map((s) => s.trim()).filter((s) => s !== ''),
    list: values.list === true,
  }
}

function selectScenarios(only: string[] | undefined): Scenario[] {
  if (only === undefined) return [...SCENARIOS]
  const unknown = only.filter((id) => !SCENARIOS.some((s) => s.id === id))
  if (unknown.length > 0) {
    throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.id).join(', ')}`)
  }
  return SCENARIOS.filter((s) => only.includes(s.id))
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

/** Checks the target delivers the upstream page, and for proxies, that it did a proxy's job. Returns notes. */
async function checkTarget(scenario: Scenario, target: RunningTarget): Promise<string[]> {
  const res = await probe(target.url, target.host, 5000)
  if (res.status !== 200 || !res.body.includes(BENCH_PAGE_MARKER)) {
    throw new Error(`GET / answered ${res.status} without the bench page: ${res.body.slice(0, 200)}`)
  }
  const notes: string[] = []
  if (target.info !== undefined) notes.push(target.info)
  if (!scenario.proxy) return notes
  const missing = ['strict-transport-security', 'x-content-type-options', 'content-security-policy']
    .filter((h) => res.headers[h] === undefined)
  if (missing.length > 0) notes.push(`does not send ${missing.join(', ')}`)
  if (res.headers['x-powered-by'] !== undefined) notes.push('passes X-Powered-By through')
  const cookies = res.headers['set-cookie'] ?? []
  if (!cookies.every((c) => /;\s*secure/i.test(c) && /;\s*httponly/i.test(c))) {
    notes.push('leaves cookies without Secure/HttpOnly')
  }
  return notes
}

async function runScenario(scenario: Scenario, ctx: Parameters<Scenario['start']>[0], opts: Options, h2load: string | undefined): Promise<Row> {
  const base = {
    id: scenario.id, name: scenario.name, client: scenario.client,
    ...(scenario.role === undefined ? {} : { role: scenario.role }),
    ...(scenario.workload === undefined ? {} : { workload: scenario.workload }),
  }
  if (scenario.client === 'h2load' && h2load === undefined) {
    return { ...base, status: 'unavailable', reason: 'h2load not installed: apt-get install nghttp2-client', notes: [] }
  }
  let target: RunningTarget | undefined
  try {
    log(`- ${scenario.name}: starting`)
    target = await scenario.start(ctx)
    const notes = await checkTarget(scenario, target)
    log(`- ${scenario.name}: ${opts.warmupSec} s warm-up, ${opts.durationSec} s measured`)
    const result = await measureLoad({
      client: scenario.client,
      url: target.url,
      host: target.host,
      connections: opts.connections,
      durationSec: opts.durationSec,
      warmupSec: opts.warmupSec,
      pids: target.pids,
      sidePids: target.sidePids,
      tmpDir: ctx.tmpDir,
      ...(scenario.post === undefined ? {} : { post: scenario.post }),
      ...(h2load === undefined ? {} : { h2loadPath: h2load }),
    })
    log(`  ${result.rps.toFixed(0)} req/s, ${result.cpuUsPerReq.toFixed(1)} µs CPU/req`)
    return { ...base, status: 'ok', result, notes }
  } catch (err) {
    if (err instanceof TargetUnavailable) {
      log(`  unavailable: ${err.message}`)
      return { ...base, status: 'unavailable', reason: err.message, notes: [] }
    }
    const message = err instanceof Error ? err.message : String(err)
    log(`  failed: ${message}`)
    return { ...base, status: 'failed', reason: message, notes: [] }
  } finally {
    await target?.stop()
  }
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2))
  if (opts.list) {
    for (const s of SCENARIOS) process.stdout.write(`${s.id.padEnd(16)} ${s.name}: ${s.description}\n`)
    return 0
  }
  if (!procAvailable()) throw new Error('the benchmark reads CPU time from /proc and runs on Linux only')
  const scenarios = selectScenarios(opts.only)
  const h2load = findExecutable('h2load')
  if (h2load === undefined && scenarios.some((s) => s.client === 'h2load')) {
    log('h2load not found: HTTP/2 rows are skipped (apt-get install nghttp2-client)')
  }

  const budgetSec = scenarios.length * (opts.warmupSec + opts.durationSec + STARTUP_BUDGET_SEC + SLACK_PER_SCENARIO_SEC) + 30
  log(`${scenarios.length} scenarios, ${opts.durationSec} s each (+${opts.warmupSec} s warm-up), ${opts.connections} connections; at most ${budgetSec} s`)

  return inScratchRun('rampart-bench', budgetSec, log, async (tmpDir) => {
    const startedAt = new Date()
    const cert = await generateBenchCertificate(tmpDir)
    const shared = await startSharedUpstream(tmpDir)
    const upstream = shared.child
    const ctx = { tmpDir, cert, upstream: { port: shared.port, pid: shared.child.pid } }

    const rows: Row[] = []
    for (const scenario of scenarios) rows.push(await runScenario(scenario, ctx, opts, h2load))
    await upstream.stop()

    const ratios = computeRatios(rows)
    const cpu = cpus()
    const header = [
      `Rampart benchmark, ${startedAt.toISOString()}`,
      `node ${process.version}, Linux ${release()}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
      `${opts.durationSec} s per scenario after ${opts.warmupSec} s warm-up, ${opts.connections} connections` +
        ` (HTTP/1.1 keep-alive over TLS by autocannon; HTTP/2 rows by h2load with ${H2_STREAMS} streams per connection)`,
    ]
    const notes = formatNotes(rows)
    process.stdout.write(`\n${header.join('\n')}\n\n${formatTable(rows, ratios)}\n`)
    if (notes.length > 0) process.stdout.write(`\n${notes.map((n) => `- ${n}`).join('\n')}\n`)

    const file = await writeResults('', startedAt, {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      command: `node dist/bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
      options: { durationSec: opts.durationSec, connections: opts.connections, warmupSec: opts.warmupSec, h2Streams: H2_STREAMS },
      machine: { node: process.version, kernel: release(), cpus: cpu.length, cpuModel: cpu[0]?.model.trim(), totalMemBytes: totalmem(), clockTicks: clockTicksPerSecond() },
      rows: rows.map((row) => ({ ...row, ratios: ratios.get(row.id) ?? null })),
    })
    log(`\nresults written to ${file}`)
    return rows.some((r) => r.status === 'failed') ? 1 : 0
  })
}

main().then((code) => process.exit(code), async (err: unknown) => {
  log(`bench: ${err instanceof Error ? err.message : String(err)}`)
  await stopAllChildren()
  process.exit(1)
})
