/**
 * HTTP/2 abuse from a raw-frame client over real TLS: rapid reset, a stream flood past maxConcurrentStreams,
 * SETTINGS and PING floods, an HPACK bomb (one header from the dynamic table repeated into megabytes) and a
 * CONTINUATION flood.
 *
 * For each attack it proves what the attacking session gets (GOAWAY, refused streams, or plain service), that a
 * well-behaved HTTP/2 and HTTP/1.1 client gets 200 during and after it, that only bounded work reached the
 * upstream, and that the gateway's memory stays bounded: the RSS of this process (which runs the gateway) grows by
 * less than RSS_BOUND per attack.
 */
import t from 'tap'
import tls from 'node:tls'
import type http from 'node:http'
import { h1, h2, startLocalhostGateway } from '../helpers/gateway.js'
import { echoHandler, startUpstream } from '../helpers/upstream.js'

/** Most the gateway process's RSS may grow during one attack. */
const RSS_BOUND = 64 * 1024 * 1024
/** Longest an attack is watched before the test gives up on the gateway reacting. */
const WATCH_MS = 10_000

const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, CONTINUATION: 9 } as const
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const
const CODE = { NO_ERROR: 0, PROTOCOL_ERROR: 1, REFUSED_STREAM: 7, CANCEL: 8, ENHANCE_YOUR_CALM: 11 } as const

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9)
  head.writeUIntBE(payload.length, 0, 3)
  head[3] = type
  head[4] = flags
  head.writeUInt32BE(stream, 5)
  return Buffer.concat([head, payload])
}

/** HPACK integer with an n-bit prefix (RFC 7541 §5.1), first byte or-ed with `mask`. */
function hpackInt(value: number, prefixBits: number, mask: number): Buffer {
  const max = (1 << prefixBits) - 1
  if (value < max) return Buffer.from([mask | value])
  const bytes = [mask | max]
  let rest = value - max
  while (rest >= 128) {
    bytes.push((rest % 128) + 128)
    rest = Math.floor(rest / 128)
  }
  bytes.push(rest)
  return Buffer.from(bytes)
}

function hpackString(s: string): Buffer {
  const b = Buffer.from(s, 'latin1')
  return Buffer.concat([hpackInt(b.length, 7, 0), b])
}

/** A GET's header block: static-table :method GET, :scheme https, then :path and :authority as plain literals. */
function getBlock(path: string): Buffer {
  return Buffer.concat([Buffer.from([0x82, 0x87]), hpackInt(4, 4, 0), hpackString(path), hpackInt(1, 4, 0), hpackString('localhost')])
}

interface Seen { type: number; stream: number; code?: number }

/** A raw HTTP/2 client: sends the preface, ACKs the server's SETTINGS, and records every frame it receives. */
class RawH2 {
  readonly socket: tls.TLSSocket
  readonly seen: Seen[] = []
  readonly closed: Promise<void>
  #buf = Buffer.alloc(0)

  constructor(port: number) {
    this.socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['h2'] })
    this.socket.on('error', () => {})
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()))
    this.socket.on('data', (c: Buffer) => this.#read(c))
  }

  async ready(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.once('secureConnect', () => resolve()))
    this.socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(FRAME.SETTINGS, 0, 0)]))
  }

  /** Writes and waits until the bytes are handed to the kernel (or the connection is gone). */
  send(data: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve()
      this.socket.write(data, () => resolve())
    })
  }

  count(type: number, code?: number): number {
    return this.seen.filter((f) => f.type === type && (code === undefined || f.code === code)).length
  }

  goaway(): number | undefined {
    return this.seen.find((f) => f.type === FRAME.GOAWAY)?.code
  }

  /**
   * The gateway ended the session: a GOAWAY arrived, or the connection was closed (the GOAWAY written just before
   * may be lost: a server closing with unread attack bytes in its buffer makes the kernel send a TCP reset).
   */
  ended(): boolean {
    return this.goaway() !== undefined || this.socket.destroyed
  }

  /** Resolves when `done()` holds after a received frame or close, or after WATCH_MS. */
  until(done: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (!done() && !this.socket.destroyed) return
        clearTimeout(timer)
        this.socket.off('data', check)
        resolve()
      }
      const timer = setTimeout(() => {
        this.socket.off('data', check)
        resolve()
      }, WATCH_MS)
      this.socket.on('data', check)
      void this.closed.then(check)
      check()
    })
  }

  #read(chunk: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, chunk])
    while (this.#buf.length >= 9) {
      const length = this.#buf.readUIntBE(0, 3)
      if (this.#buf.length < 9 + length) return
      const type = this.#buf[3]!
      const flags = this.#buf[4]!
      const stream = this.#buf.readUInt32BE(5) & 0x7fffffff
      const payload = this.#buf.subarray(9, 9 + length)
      this.#buf = this.#buf.subarray(9 + length)
      const code = type === FRAME.GOAWAY ? payload.readUInt32BE(4) : type === FRAME.RST_STREAM ? payload.readUInt32BE(0) : undefined
      this.seen.push(code === undefined ? { type, stream } : { type, stream, code })
      if (type === FRAME.SETTINGS && (flags & FLAG.ACK) === 0 && !this.socket.destroyed) this.socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0))
    }
  }
}

/** Requests to /hold get no answer; `holdClosed` counts those whose connection the gateway closed. */
const heldOpen: http.ServerResponse[] = []
let holdClosed = 0
const up = await startUpstream(t, (req, res) => {
  if (req.url === '/hold') {
    heldOpen.push(res)
    res.once('close', () => holdClosed++)
    return
  }
  echoHandler(req, res)
})
// An upstream pool larger than one session's streams, so a flood of held streams cannot starve other clients.
const gw = await startLocalhostGateway(t, up.url, 'proxy: { connections: 512 }')

/**
 * Runs `attack` on a fresh raw session; meanwhile and afterwards a well-behaved HTTP/2 and HTTP/1.1 client must get
 * 200, and the RSS must stay within RSS_BOUND. Returns the attacker, for attack-specific assertions.
 */
async function underAttack(t: { teardown(fn: () => unknown): void; equal(a: unknown, b: unknown, m: string): unknown; ok(v: unknown, m: string): unknown; comment(m: string): void }, name: string, attack: (c: RawH2) => Promise<void>): Promise<RawH2> {
  const before = up.requests.length
  const rssBefore = process.memoryUsage().rss
  const attacker = new RawH2(gw.port)
  t.teardown(() => attacker.socket.destroy())
  await attacker.ready()
  const [during] = await Promise.all([h2(gw.port).then((r) => r.status), attack(attacker)])
  const grown = process.memoryUsage().rss - rssBefore
  t.equal(during, 200, `${name}: a well-behaved HTTP/2 client is served during the attack`)
  t.equal((await h2(gw.port)).status, 200, `${name}: and after it (HTTP/2)`)
  t.equal((await h1(gw.port)).status, 200, `${name}: and after it (HTTP/1.1)`)
  t.ok(grown < RSS_BOUND, `${name}: RSS grew by ${(grown / 1048576).toFixed(1)} MB (bound ${RSS_BOUND / 1048576} MB)`)
  t.comment(`${name}: ${up.requests.length - before} requests reached the upstream; attacker saw ${attacker.seen.length} frames, GOAWAY code ${attacker.goaway()}`)
  return attacker
}

t.test('rapid reset: 2000 streams opened and cancelled at once: GOAWAY, and the upstream is spared', async (t) => {
  const before = up.requests.length
  const attacker = await underAttack(t, 'rapid reset', async (c) => {
    const frames: Buffer[] = []
    for (let i = 0; i < 2000; i++) {
      const id = 1 + 2 * i
      frames.push(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, getBlock('/reset')), frame(FRAME.RST_STREAM, 0, id, Buffer.from([0, 0, 0, CODE.CANCEL])))
    }
    await c.send(Buffer.concat(frames))
    await c.until(() => false)
  })
  t.ok(attacker.socket.destroyed, `the attacking session was ended and its connection closed (GOAWAY ${attacker.goaway()})`)
  const reached = up.requests.slice(before).filter((q) => q.url === '/reset').length
  t.ok(reached < 10, `cancelled streams are not forwarded: ${reached} of 2000 reached the upstream`)
})

t.test('stream flood past maxConcurrentStreams (128): extra streams never served, the session ended, upstream work undone', async (t) => {
  const before = up.requests.length
  const attacker = await underAttack(t, 'stream flood', async (c) => {
    const frames: Buffer[] = []
    for (let i = 0; i < 1000; i++) frames.push(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1 + 2 * i, getBlock('/hold')))
    await c.send(Buffer.concat(frames))
    await c.until(() => false)
  })
  // The REFUSED_STREAM frames may be lost to the TCP reset that ends the session, so they are counted, not required.
  t.comment(`${attacker.count(FRAME.RST_STREAM, CODE.REFUSED_STREAM)} REFUSED_STREAM frames arrived`)
  t.ok(attacker.ended(), `the session was ended after too many refused streams (maxSessionRejectedStreams; GOAWAY ${attacker.goaway()})`)
  const held = up.requests.slice(before).filter((q) => q.url === '/hold').length
  t.ok(held <= 128, `at most maxConcurrentStreams requests reached the upstream (${held})`)
  // The client is gone: requests still waiting for the upstream must be abandoned, not hold upstream connections
  // until sites[].timeouts.headers (60 s) while the attacker opens the next session.
  const deadline = performance.now() + 3000
  while (holdClosed < held && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  t.equal(holdClosed, held, `the gateway abandoned the upstream requests of the closed session (${holdClosed} of ${held})`)
  for (const res of heldOpen.splice(0)) res.end()
})

t.test('SETTINGS flood: 10000 SETTINGS frames', async (t) => {
  const attacker = await underAttack(t, 'SETTINGS flood', async (c) => {
    await c.send(Buffer.concat(Array.from({ length: 10_000 }, () => frame(FRAME.SETTINGS, 0, 0))))
    await c.until(() => c.count(FRAME.SETTINGS) > 10_000)
  })
  t.ok(attacker.ended() || attacker.count(FRAME.SETTINGS) > 10_000,
    `the session was ended (GOAWAY ${attacker.goaway()}) or every SETTINGS was answered (${attacker.count(FRAME.SETTINGS)} frames)`)
})

t.test('PING flood: 10000 PING frames', async (t) => {
  const attacker = await underAttack(t, 'PING flood', async (c) => {
    await c.send(Buffer.concat(Array.from({ length: 10_000 }, () => frame(FRAME.PING, 0, 0, Buffer.alloc(8)))))
    await c.until(() => c.count(FRAME.PING) >= 10_000)
  })
  t.ok(attacker.ended() || attacker.count(FRAME.PING) >= 10_000,
    `the session was ended (GOAWAY ${attacker.goaway()}) or every PING was answered (${attacker.count(FRAME.PING)} frames)`)
})

t.test('HPACK bomb: a 4000-byte header from the dynamic table, repeated 16000 times (64 MB decoded)', async (t) => {
  const before = up.requests.length
  const attacker = await underAttack(t, 'HPACK bomb', async (c) => {
    const insert = Buffer.concat([Buffer.from([0x40]), hpackString('x-bomb'), hpackString('b'.repeat(4000))])
    const block = Buffer.concat([getBlock('/bomb'), insert, Buffer.alloc(16_000, 0x80 | 62)])
    const first = block.subarray(0, 16_000)
    await c.send(Buffer.concat([
      frame(FRAME.HEADERS, FLAG.END_STREAM, 1, first),
      frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, block.subarray(16_000)),
    ]))
    await c.until(() => c.goaway() !== undefined || c.count(FRAME.RST_STREAM) > 0 || c.count(FRAME.HEADERS) > 0)
  })
  t.ok(attacker.ended() || attacker.count(FRAME.RST_STREAM) > 0,
    `the request was refused: GOAWAY ${attacker.goaway()}, RST_STREAM ${attacker.seen.find((f) => f.type === FRAME.RST_STREAM)?.code}`)
  t.notOk(up.requests.slice(before).some((q) => q.url === '/bomb'), 'the upstream never received it')
})

t.test('CONTINUATION flood: a header block that never ends', async (t) => {
  const before = up.requests.length
  const attacker = await underAttack(t, 'CONTINUATION flood', async (c) => {
    const header = Buffer.concat([hpackInt(0, 4, 0), hpackString('x-pad'), hpackString('p'.repeat(100))])
    await c.send(Buffer.concat([
      frame(FRAME.HEADERS, FLAG.END_STREAM, 1, getBlock('/continuation')),
      ...Array.from({ length: 20_000 }, () => frame(FRAME.CONTINUATION, 0, 1, header)),
    ]))
    await c.until(() => false)
  })
  t.ok(attacker.ended(), `the session was ended (GOAWAY ${attacker.goaway()})`)
  t.notOk(up.requests.slice(before).some((q) => q.url === '/continuation'), 'the upstream never received it')
})
