/**
 * Instructions per request: each target run under valgrind's callgrind, the same fixed load sent to each.
 *
 * `node dist/bench/instructions.js [--requests 2000] [--warmup 14000] [--rounds 5] [--connections 10] [--only id,id]`
 *
 * Why next to run.ts: CPU time on a shared VM moves by up to 2× from run to run, so a change worth a few percent is
 * invisible in it. An instruction count of the same build under the same load repeats to within about 1% once the
 * JIT has settled, whatever else the machine does. It is the measure for "did this change make the
 * gateway cheaper"; run.ts stays the measure of time, req/s and latency (see lib/callgrind.ts for what the counts
 * leave out).
 *
 * Per target: start it under callgrind (startup takes tens of seconds), send `--warmup` requests so the JIT has
 * settled, then `--rounds` times: zero the counters, send exactly `--requests` requests over `--connections`
 * keep-alive TLS connections (autocannon, HTTP/1.1, new connections each round: the TLS handshakes are part of the
 * count, the same for every row), dump and sum the counters of all its processes. A Node target needs about 14000
 * requests before its count stops falling (the JIT compiles on the way, and that work is counted). Reports per
 * request the median of the rounds (the steady state), their mean (which also carries the occasional full
 * collection of V8's old generation: one round in several costs half as much again), the spread, and the ratio of
 * medians to nginx. Loopback only; bounded by a watchdog sized from the counts.
 */
import { parseArgs } from 'node:util'
import { cpus, release } from 'node:os'
import { generateBenchCertificate } from './lib/certs.js'
import { sendRequests } from './lib/load.js'
import { Callgrind } from './lib/callgrind.js'
import { probe, stopAllChildren } from './lib/child.js'
import { inScratchRun, writeResults } from './lib/run-scope.js'
import { SCENARIOS, TargetUnavailable, startSharedUpstream, type Scenario, type BenchContext } from './lib/targets.js'
import { BENCH_PAGE_MARKER } from './lib/page.js'
import { intOption, unsetIfEmpty } from './lib/options.js'

const DEFAULT_ONLY = ['nginx', 'node-proxy', 'rampart-off', 'rampart-on']
/**
 * Under callgrind a Node target starts in about 40 s and gets through about 55 requests a second (nginx about ten
 * times as many). The bounds allow three times that.
 */
const START_TIMEOUT_MS = 240_000
const WORST_MS_PER_REQUEST = 60

interface Options {
  requests: number
  warmup: number
  rounds: number
  connections: number
  only: string[]
}

interface Row {
  id: string
  name: string
  status: 'ok' | 'unavailable' | 'failed'
  reason?: string
  /** Instructions per request, one per round. */
  rounds: number[]
  median?: number
  mean?: number
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      requests: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      connections: { type: 'string' },
      only: { type: 'string' },
    },
    strict: true,
  })
  const only = values.only === undefined ? DEFAULT_ONLY : values.only.split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const id of only) {
    const scenario = SCENARIOS.find((s) => s.id === id)
    if (scenario === undefined) throw new Error(`unknown scenario ${id}; known: ${SCENARIOS.map((s) => s.id).join(', ')}`)
    if (scenario.client !== 'autocannon' || scenario.role === 'upstream') {
      throw new Error(`${id} cannot be counted: only targets started by the run and loaded by autocannon can`)
    }
  }
  return {
    requests: intOption('requests', unsetIfEmpty(values.requests), 2000, 100, 100_000),
    warmup: intOption('warmup', unsetIfEmpty(values.warmup), 14000, 0, 100_000),
    rounds: intOption('rounds', unsetIfEmpty(values.rounds), 5, 1, 20),
    connections: intOption('connections', unsetIfEmpty(values.connections), 10, 1, 200),
    only,
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

async function countScenario(scenario: Scenario, base: Omit<BenchContext, 'wrap'>, opts: Options): Promise<Row> {
  const row: Row = { id: scenario.id, name: scenario.name, status: 'ok', rounds: [] }
  const callgrind = Callgrind.find(base.tmpDir, scenario.id)
  if (callgrind === undefined) return { ...row, status: 'unavailable', reason: 'valgrind not installed: apt-get install valgrind' }
  const ctx: BenchContext = { ...base, wrap: (command, args) => callgrind.wrap(command, args), startTimeoutMs: START_TIMEOUT_MS }
  const limitSec = (n: number): number => Math.ceil((n * WORST_MS_PER_REQUEST) / 1000) + 30
  let stop: (() => Promise<void>) | undefined
  try {
    log(`- ${scenario.name}: starting under callgrind`)
    const target = await scenario.start(ctx)
    stop = () => target.stop()
    const page = await probe(target.url, target.host, 30_000)
    if (page.status !== 200 || !page.body.includes(BENCH_PAGE_MARKER)) throw new Error(`GET / answered ${page.status} without the bench page`)
    const load = { url: target.url, host: target.host, connections: opts.connections, ...(scenario.post === undefined ? {} : { post: scenario.post }) }
    const send = async (amount: number): Promise<void> => {
      const r = await sendRequests(load, amount, limitSec(amount))
      if (r.errors > 0 || r.timeouts > 0 || r.non2xx > 0 || r.requests < amount) {
        throw new Error(`${r.requests} of ${amount} requests answered, ${r.non2xx} not 2xx, ${r.errors} errors, ${r.timeouts} timeouts`)
      }
    }
    log(`  ${opts.warmup} requests to warm up`)
    if (opts.warmup > 0) await send(opts.warmup)
    for (let i = 0; i < opts.rounds; i++) {
      await callgrind.zero()
      await send(opts.requests)
      const total = await callgrind.dump()
      row.rounds.push(total / opts.requests)
      log(`  round ${i + 1}: ${Math.round(total / opts.requests)} instructions per request`)
    }
    row.median = median(row.rounds)
    row.mean = row.rounds.reduce((a, b) => a + b, 0) / row.rounds.length
    return row
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    log(`  ${err instanceof TargetUnavailable ? 'unavailable' : 'failed'}: ${message}`)
    return { ...row, status: err instanceof TargetUnavailable ? 'unavailable' : 'failed', reason: message }
  } finally {
    await stop?.()
  }
}

function formatInstructionTable(rows: readonly Row[]): string {
  const nginx = rows.find((r) => r.id === 'nginx' && r.median !== undefined)?.median
  const thousands = (n: number): string => `${(n / 1000).toFixed(1)}k`
  const lines = [
    '| target | instructions per request (median) | mean | spread of rounds | vs nginx (medians) |',
    '|---|---:|---:|---:|---:|',
  ]
  for (const r of rows) {
    if (r.median === undefined) {
      lines.push(`| ${r.name} | ${r.status}: ${r.reason ?? ''} | | | |`)
      continue
    }
    const spread = r.rounds.length > 1 ? `${(((Math.max(...r.rounds) - Math.min(...r.rounds)) / r.median) * 100).toFixed(1)}%` : '-'
    const ratio = nginx === undefined ? '-' : `${(r.median / nginx).toFixed(2)}×`
    lines.push(`| ${r.name} | ${thousands(r.median)} | ${thousands(r.mean ?? r.median)} | ${spread} | ${ratio} |`)
  }
  return lines.join('\n')
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2))
  const scenarios = opts.only.map((id) => SCENARIOS.find((s) => s.id === id)!)
  const perRequests = opts.warmup + opts.rounds * opts.requests
  const budgetSec = scenarios.length * (START_TIMEOUT_MS / 1000 + Math.ceil((perRequests * WORST_MS_PER_REQUEST) / 1000) + 60) + 60
  log(`${scenarios.length} targets under callgrind: ${opts.warmup} warm-up requests, then ${opts.rounds} × ${opts.requests}, ${opts.connections} connections; at most ${budgetSec} s`)
  return inScratchRun('rampart-instructions', budgetSec, log, async (tmpDir) => {
    const startedAt = new Date()
    const cert = await generateBenchCertificate(tmpDir)
    const shared = await startSharedUpstream(tmpDir)
    const base = { tmpDir, cert, upstream: { port: shared.port, pid: shared.child.pid } }
    const rows: Row[] = []
    for (const scenario of scenarios) rows.push(await countScenario(scenario, base, opts))
    await shared.child.stop()
    const cpu = cpus()
    process.stdout.write(`\nInstructions per request, ${startedAt.toISOString()}\n` +
      `node ${process.version}, Linux ${release()}, ${cpu[0]?.model.trim() ?? 'unknown CPU'}; valgrind callgrind, user space only\n` +
      `${opts.rounds} rounds of ${opts.requests} requests after ${opts.warmup} warm-up requests, ${opts.connections} connections (HTTP/1.1 over TLS, autocannon)\n\n` +
      `${formatInstructionTable(rows)}\n`)
    const file = await writeResults('instructions-', startedAt, {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      command: `node dist/bench/instructions.js ${process.argv.slice(2).join(' ')}`.trim(),
      options: opts,
      machine: { node: process.version, kernel: release(), cpuModel: cpu[0]?.model.trim() },
      rows,
    })
    log(`\nresults written to ${file}`)
    return rows.some((r) => r.status === 'failed') ? 1 : 0
  })
}

main().then((code) => process.exit(code), async (err: unknown) => {
  log(`instructions: ${err instanceof Error ? err.message : String(err)}`)
  await stopAllChildren()
  process.exit(1)
})
