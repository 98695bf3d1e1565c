import t from 'tap'
import fs from 'node:fs'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import FakeTimers from '@sinonjs/fake-timers'
import { LineSink } from '../../src/log/line-sink.js'
import { tempDir } from '../helpers/paths.js'

type Test = { teardown(fn: () => void): void }

const flushed = (sink: LineSink): Promise<void> => new Promise((resolve) => sink.flush(resolve))

/** A FIFO with a non-blocking write end (like stdout piped to a log collector) and a read end the test drains. */
function fifo(t: Test): { reader: number; writer: number } {
  const path = join(tempDir(t), 'pipe')
  const made = spawnSync('mkfifo', [path])
  if (made.status !== 0) throw new Error(`mkfifo failed (install coreutils): ${made.stderr}`)
  const reader = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
  const writer = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)
  t.teardown(() => {
    for (const fd of [reader, writer]) try { fs.closeSync(fd) } catch { /* closed by the test */ }
  })
  return { reader, writer }
}

/** Reads what the pipe holds now (non-blocking). */
function drain(fd: number): string {
  const chunks: Buffer[] = []
  const buf = Buffer.alloc(64 * 1024)
  for (;;) {
    try {
      const n = fs.readSync(fd, buf, 0, buf.length, null)
      if (n === 0) break
      chunks.push(Buffer.from(buf.subarray(0, n)))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break
      throw err
    }
  }
  return Buffer.concat(chunks).toString()
}

/** Flushes the sink while reading the pipe, as a log collector would; everything the pipe carried, in order. */
async function flushWhileReading(sink: LineSink, reader: number): Promise<string> {
  let got = ''
  let done = false
  const finished = flushed(sink).then(() => { done = true })
  while (!done) {
    got += drain(reader)
    await new Promise((r) => setImmediate(r))
  }
  await finished
  return got + drain(reader)
}

/** A log file in a fresh temporary folder, open for writing: its path and descriptor. */
function logFile(t: Test): { path: string; fd: number } {
  const path = join(tempDir(t), 'log')
  const fd = fs.openSync(path, 'w')
  t.teardown(() => fs.closeSync(fd))
  return { path, fd }
}

t.test('lines are queued, then written in order in one batch', async (t) => {
  const { path, fd } = logFile(t)
  const sink = new LineSink(fd, { batchBytes: 1 << 20, flushInterval: 3_600_000 })
  t.teardown(() => sink.close())
  for (let i = 0; i < 100; i++) sink.write(`line ${i}\n`)
  t.equal(fs.readFileSync(path, 'utf8'), '', 'nothing is written per line')
  await flushed(sink)
  const lines = fs.readFileSync(path, 'utf8').trimEnd().split('\n')
  t.equal(lines.length, 100)
  t.same(lines.slice(0, 3), ['line 0', 'line 1', 'line 2'])
  t.equal(lines[99], 'line 99')
})

t.test('a full batch is written without waiting for the timer', async (t) => {
  const { path, fd } = logFile(t)
  const sink = new LineSink(fd, { batchBytes: 64, flushInterval: 3_600_000 })
  t.teardown(() => sink.close())
  const line = `${'x'.repeat(39)}\n`
  sink.write(line)
  t.equal(fs.readFileSync(path, 'utf8'), '')
  sink.write(line) // 80 bytes queued: over the batch size
  await flushed(sink)
  t.equal(fs.readFileSync(path, 'utf8'), line + line)
})

t.test('the timer writes a queue that never fills a batch', async (t) => {
  const clock = FakeTimers.install({ toFake: ['setInterval', 'clearInterval'] })
  t.teardown(() => clock.uninstall())
  const { path, fd } = logFile(t)
  const sink = new LineSink(fd, { batchBytes: 1 << 20, flushInterval: 200 })
  t.teardown(() => sink.close())
  sink.write('late line\n')
  clock.tick(199)
  await new Promise((r) => setImmediate(r))
  t.equal(fs.readFileSync(path, 'utf8'), '', 'not before the interval')
  clock.tick(1)
  await flushed(sink)
  t.equal(fs.readFileSync(path, 'utf8'), 'late line\n')
})

t.test('a full pipe (EAGAIN) is retried until the reader catches up; nothing is lost or reordered', async (t) => {
  const { reader, writer } = fifo(t)
  const sink = new LineSink(writer, { batchBytes: 1024, flushInterval: 3_600_000, retryMs: 1 })
  t.teardown(() => sink.close())
  const want: string[] = []
  // Far more than a pipe holds (64 KB on Linux).
  for (let i = 0; i < 5000; i++) {
    const line = `${String(i).padStart(6, '0')} ${'y'.repeat(90)}\n`
    want.push(line)
    sink.write(line)
  }
  const got = await flushWhileReading(sink, reader)
  t.equal(got.length, want.join('').length, 'every byte arrived')
  t.equal(got, want.join(''), 'in order')
  t.equal(sink.dropped, 0)
})

t.test('past maxQueuedBytes lines are dropped, counted, and reported by the next line written', async (t) => {
  const { reader, writer } = fifo(t)
  const sink = new LineSink(writer, {
    batchBytes: 1024, flushInterval: 3_600_000, retryMs: 1, maxQueuedBytes: 256 * 1024,
    droppedLine: (n) => `dropped ${n}\n`,
  })
  t.teardown(() => sink.close())
  const line = `${'z'.repeat(99)}\n`
  let refused = 0
  for (let i = 0; i < 10_000; i++) if (!sink.write(line)) refused++ // 1 MB against 64 KB of pipe + 256 KB queue
  t.ok(refused > 0, 'some lines were refused')
  t.equal(sink.dropped, refused, 'every refused line is counted')
  const got = await flushWhileReading(sink, reader)
  const lines = got.trimEnd().split('\n')
  t.equal(lines.filter((l) => l === line.trimEnd()).length, 10_000 - refused, 'every accepted line arrived')
  t.same(lines.filter((l) => l.startsWith('dropped')), [`dropped ${refused}`], 'one warning with the count')
})

t.test('a destination that fails for good drops its lines and the process goes on', async (t) => {
  const { reader, writer } = fifo(t)
  fs.closeSync(reader) // nobody reads: writes fail with EPIPE
  const sink = new LineSink(writer, { batchBytes: 16, flushInterval: 3_600_000 })
  t.teardown(() => sink.close())
  sink.write('first line\n')
  sink.write('second line\n')
  await flushed(sink)
  t.equal(sink.dropped, 2, 'both lines counted as dropped')
  t.doesNotThrow(() => sink.flushSync(), 'a synchronous flush to a dead pipe does not throw')
})

t.test('flushSync writes what is queued at once; a write in flight is not written twice', async (t) => {
  const { path, fd } = logFile(t)
  const sink = new LineSink(fd, { batchBytes: 8, flushInterval: 3_600_000 })
  t.teardown(() => sink.close())
  sink.write('in flight\n') // a full batch: an asynchronous write starts
  sink.write('queued\n')
  sink.flushSync()
  t.match(fs.readFileSync(path, 'utf8'), /queued\n/, 'the queued line is written before flushSync returns')
  await flushed(sink)
  const lines = fs.readFileSync(path, 'utf8').trimEnd().split('\n').sort()
  t.same(lines, ['in flight', 'queued'], 'each line exactly once')
})
