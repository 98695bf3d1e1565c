/**
 * CPU time and memory of a process tree, read from Linux `/proc`.
 *
 * Contract: `treeUsage(rootPid)` sums, over the root and every live descendant (found by walking the ppid field of
 * `/proc/<pid>/stat`), user + system time including reaped children's time (so a worker that exits mid-run is not
 * lost), and the resident set size. `RssSampler` samples that RSS sum every 250 ms and keeps the peak. Clock ticks
 * come from `getconf CLK_TCK` (100 when unavailable). Linux only: elsewhere `procAvailable()` is false.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { execFileSync } from 'node:child_process'

export interface ProcStat {
  readonly pid: number
  readonly ppid: number
  /** utime + stime + cutime + cstime, in clock ticks. */
  readonly ticks: number
  /** Resident pages. */
  readonly rssPages: number
}

export interface TreeUsage {
  /** CPU time of the whole tree, in milliseconds. */
  readonly cpuMs: number
  readonly rssBytes: number
  readonly pids: readonly number[]
}

function getconf(name: string, fallback: number): number {
  try {
    const value = Number(execFileSync('getconf', [name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim())
    return Number.isInteger(value) && value > 0 ? value : fallback
  } catch {
    return fallback
  }
}

let clockTicks: number | undefined
let pageSize: number | undefined

export function clockTicksPerSecond(): number {
  clockTicks ??= getconf('CLK_TCK', 100)
  return clockTicks
}

export function pageSizeBytes(): number {
  pageSize ??= getconf('PAGESIZE', 4096)
  return pageSize
}

export function procAvailable(): boolean {
  return existsSync('/proc/self/stat')
}

/**
 * Parses one `/proc/<pid>/stat` line. The command name (field 2) is in parentheses and may itself contain spaces
 * and parentheses, so fields are counted from the last `)`. Returns undefined for a malformed line.
 */
export function parseProcStat(line: string): ProcStat | undefined {
  const open = line.indexOf('(')
  const close = line.lastIndexOf(')')
  if (open <= 0 || close < open) return undefined
  const pid = Number(line.slice(0, open).trim())
  // After ")": field 3 (state) is index 0, so field n is index n - 3.
  const rest = line.slice(close + 2).split(' ')
  const field = (n: number): number => Number(rest[n - 3])
  const ppid = field(4)
  const ticks = field(14) + field(15) + field(16) + field(17)
  const rssPages = field(24)
  if (!Number.isInteger(pid) || !Number.isFinite(ppid) || !Number.isFinite(ticks) || !Number.isFinite(rssPages)) {
    return undefined
  }
  return { pid, ppid, ticks, rssPages }
}

function readStat(pid: string): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return undefined // the process exited between readdir and read
  }
}

/** The root and all its descendants, from a list of stats. Pure; exported for tests of the walk. */
export function selectTree(stats: readonly ProcStat[], rootPid: number): ProcStat[] {
  const children = new Map<number, ProcStat[]>()
  let root: ProcStat | undefined
  for (const s of stats) {
    if (s.pid === rootPid) root = s
    const list = children.get(s.ppid)
    if (list === undefined) children.set(s.ppid, [s])
    else list.push(s)
  }
  if (root === undefined) return []
  const tree: ProcStat[] = []
  const queue: ProcStat[] = [root]
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    tree.push(next)
    for (const child of children.get(next.pid) ?? []) queue.push(child)
  }
  return tree
}

export function treeUsage(rootPid: number): TreeUsage {
  const stats: ProcStat[] = []
  for (const entry of readdirSync('/proc')) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue
    const stat = readStat(entry)
    if (stat !== undefined) stats.push(stat)
  }
  const tree = selectTree(stats, rootPid)
  let ticks = 0
  let pages = 0
  for (const s of tree) {
    ticks += s.ticks
    pages += s.rssPages
  }
  return {
    cpuMs: (ticks * 1000) / clockTicksPerSecond(),
    rssBytes: pages * pageSizeBytes(),
    pids: tree.map((s) => s.pid),
  }
}

/** Samples the RSS of a process tree on an interval and keeps the highest sum seen. */
export class RssSampler {
  #peak = 0
  #timer: NodeJS.Timeout | undefined

  constructor(private readonly rootPid: number, private readonly intervalMs = 250) {}

  start(): this {
    this.sample()
    this.#timer = setInterval(() => this.sample(), this.intervalMs)
    return this
  }

  sample(): void {
    const { rssBytes } = treeUsage(this.rootPid)
    if (rssBytes > this.#peak) this.#peak = rssBytes
  }

  /** Stops sampling after a last sample, and returns the peak in bytes. */
  stop(): number {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    this.sample()
    return this.#peak
  }
}
