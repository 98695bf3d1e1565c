/**
 * RSS and CPU of one process tree over time, for the soak: a series of samples, not just the peak.
 *
 * Contract: `UsageRecorder` reads `treeUsage(pid)` (cpu.ts) at `start()`, every `intervalMs`, and whenever
 * `sample()` is called, and keeps every sample: seconds since start, RSS in MB (2^20 bytes), the tree's CPU time so
 * far, and the CPU share of one core since the previous sample. A sample of a tree that no longer exists reads
 * 0 MB and is kept (the run checks liveness separately). `onSample` sees each sample as it is taken (progress).
 */
import { treeUsage } from './cpu.js'

export interface UsageSample {
  /** Seconds since `start()`. */
  readonly tSec: number
  readonly rssMb: number
  /** Total CPU time of the tree so far, ms. */
  readonly cpuMs: number
  /** CPU used since the previous sample, as a percentage of one core. */
  readonly cpuPct: number
}

export const MB = 2 ** 20

export class UsageRecorder {
  readonly samples: UsageSample[] = []
  #timer: NodeJS.Timeout | undefined
  #startedAt = 0

  constructor(
    private readonly pid: number,
    private readonly intervalMs: number,
    private readonly onSample: (s: UsageSample) => void = () => {},
  ) {}

  start(): this {
    this.#startedAt = Date.now()
    this.sample()
    this.#timer = setInterval(() => this.sample(), this.intervalMs)
    return this
  }

  sample(): UsageSample {
    const usage = treeUsage(this.pid)
    const tSec = (Date.now() - this.#startedAt) / 1000
    const previous = this.samples.at(-1)
    const gapMs = previous === undefined ? 0 : (tSec - previous.tSec) * 1000
    const cpuPct = previous === undefined || gapMs <= 0 ? 0 : ((usage.cpuMs - previous.cpuMs) / gapMs) * 100
    const sample = { tSec, rssMb: usage.rssBytes / MB, cpuMs: usage.cpuMs, cpuPct }
    this.samples.push(sample)
    this.onSample(sample)
    return sample
  }

  /** Stops the interval after one last sample. */
  stop(): UsageSample[] {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    this.sample()
    return this.samples
  }
}
