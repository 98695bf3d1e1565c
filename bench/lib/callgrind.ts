/**
 * Instruction counts of a running target, read with valgrind's callgrind.
 *
 * Why: CPU time per request on a shared VM moves by up to 2× between runs, so a change worth 3% cannot be seen in it.
 * Callgrind counts the instructions a process executes in user space, which do not depend on what else the machine
 * is doing. The target runs under callgrind from its start (`wrap`); after a warm-up its counters are zeroed, a fixed
 * number of requests is sent, and the counters are dumped and summed over every process of the target (nginx's
 * master and workers, Node's threads). Counts are user-space instructions only: the kernel's share (TCP, syscalls)
 * is not in them, and an instruction of one program is not worth the same time as one of another. They compare
 * builds of one program precisely, and programs with each other only roughly.
 *
 * Contract: `wrap()` turns a command into the same command under callgrind, with its dumps and its control channel
 * in `dir`, so `zero()` and `dump()` reach only the processes this run started. `dump()` resolves with the sum of
 * the counts since the last zero, read from the dump files of that request only.
 */
import { spawn } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { findExecutable } from './child.js'

export interface Wrapped {
  readonly command: string
  readonly args: readonly string[]
}

export class Callgrind {
  private rounds = 0

  private constructor(
    private readonly valgrind: string,
    private readonly control: string,
    private readonly dir: string,
    private readonly tag: string,
  ) {}

  /** Undefined when valgrind is not installed. */
  static find(dir: string, tag: string): Callgrind | undefined {
    const valgrind = findExecutable('valgrind')
    const control = findExecutable('callgrind_control')
    if (valgrind === undefined || control === undefined) return undefined
    return new Callgrind(valgrind, control, dir, tag)
  }

  private get prefix(): string {
    return join(this.dir, `vgdb-${this.tag}`)
  }

  wrap(command: string, args: readonly string[]): Wrapped {
    // Between rounds the load pauses for a second or so while the counters are zeroed or dumped. V8 reads such a
    // pause as idleness and shrinks its heap (the memory reducer), which the next round pays to grow again; under
    // steady load that never happens, so Node targets run without it here.
    const targetArgs = command === process.execPath ? ['--no-memory-reducer', ...args] : args
    return {
      command: this.valgrind,
      args: [
        '--tool=callgrind',
        // V8 writes and rewrites machine code on the heap: valgrind must look for changed code there too.
        '--smc-check=all-non-file',
        '--dump-instr=no',
        '--dump-line=no',
        '--collect-atstart=yes',
        // Cluster workers are separate node processes: count them too.
        '--trace-children=yes',
        `--vgdb-prefix=${this.prefix}`,
        `--callgrind-out-file=${join(this.dir, `callgrind-${this.tag}.%p.out`)}`,
        command,
        ...targetArgs,
      ],
    }
  }

  /** Zeroes the counters of every process of the target. */
  async zero(): Promise<void> {
    await this.run(['-z'])
  }

  /** Dumps the counters of every process of the target and returns their sum (instructions since the last zero). */
  async dump(): Promise<number> {
    const label = `${this.tag}-round-${++this.rounds}`
    await this.run([`--dump=${label}`])
    let total = 0
    let files = 0
    for (const name of await readdir(this.dir)) {
      if (!name.startsWith(`callgrind-${this.tag}.`)) continue
      const text = await readFile(join(this.dir, name), 'utf8')
      if (!dumpLabel(text)?.endsWith(label)) continue
      const count = dumpTotal(text)
      if (count === undefined) throw new Error(`callgrind dump ${name} has no totals line`)
      total += count
      files++
    }
    if (files === 0) throw new Error(`callgrind wrote no dump for ${label}: is the target still running under valgrind?`)
    return total
  }

  private run(args: readonly string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.control, [`--vgdb-prefix=${this.prefix}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      let output = ''
      child.stdout.on('data', (d: Buffer) => { output += d.toString() })
      child.stderr.on('data', (d: Buffer) => { output += d.toString() })
      const guard = setTimeout(() => child.kill('SIGKILL'), 60_000)
      child.once('error', (err) => {
        clearTimeout(guard)
        reject(err)
      })
      child.once('exit', (code) => {
        clearTimeout(guard)
        if (code === 0) resolve()
        else reject(new Error(`callgrind_control ${args.join(' ')} failed (exit ${String(code)}): ${output.trim().slice(-500)}`))
      })
    })
  }
}

/** The trigger a dump was made for (`desc: Trigger: ...`), or undefined. Pure; exported for tests. */
export function dumpLabel(text: string): string | undefined {
  return /^desc: Trigger: (.*)$/m.exec(text)?.[1]?.trim()
}

/** The instruction total of one callgrind dump (`totals:` or, failing that, `summary:`). Pure; exported for tests. */
export function dumpTotal(text: string): number | undefined {
  const m = /^totals: (\d+)/m.exec(text) ?? /^summary: (\d+)/m.exec(text)
  return m === null ? undefined : Number(m[1])
}
