import t from 'tap'
import { Writable } from 'node:stream'
import { createLogger } from '../../src/log/logger.js'
import { accessLineWriter } from '../../src/log/access-line.js'
import { formatLogLine } from '../../src/log/line-format.js'

function capture(): { stream: Writable; lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk))
      cb()
    },
  })
  return { stream, lines }
}

const RECORD = {
  type: 'access', reqId: 'r-1', clientIp: '192.0.2.7', method: 'GET', host: 'club.example',
  path: '/a "quoted" \\ path\u2028é', site: 'club', status: 200, bytes: Number('not a number'), durationMs: 1.25,
  upstreamMs: undefined, protocol: 'HTTP/1.1', tls: 'TLSv1.3', error: undefined, errorKind: undefined, cached: false,
}

t.test('an access line is the line pino writes for the same record: same keys, order and values', async (t) => {
  const viaPino = capture()
  const logger = createLogger({ level: 'info', destination: viaPino.stream })
  logger.info(RECORD, 'request')
  await new Promise((r) => setImmediate(r))
  const direct = capture()
  const writer = accessLineWriter(createLogger({ level: 'info', destination: direct.stream }))
  writer(RECORD, 'request')
  await new Promise((r) => setImmediate(r))
  t.equal(viaPino.lines.length, 1)
  t.equal(direct.lines.length, 1)
  t.ok(direct.lines[0]!.endsWith('}\n'), 'one line, newline-terminated')
  const a = JSON.parse(viaPino.lines[0]!) as Record<string, unknown>
  const b = JSON.parse(direct.lines[0]!) as Record<string, unknown>
  t.same(Object.keys(b), Object.keys(a), 'same keys in the same order')
  delete a['time']
  const time = b['time']
  delete b['time']
  t.same(b, a, 'same values')
  t.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'ISO time')
  t.equal(b['bytes'], null, 'a number that is not finite is null')
  t.notOk('upstreamMs' in b, 'undefined fields are left out')
})

t.test('no line below the logger level; the level is read per line', async (t) => {
  const out = capture()
  const logger = createLogger({ level: 'warn', destination: out.stream })
  const writer = accessLineWriter(logger)
  writer({ type: 'access' }, 'request')
  logger.level = 'info'
  writer({ type: 'access', n: 2 }, 'request')
  await new Promise((r) => setImmediate(r))
  t.equal(out.lines.length, 1)
  t.match(JSON.parse(out.lines[0]!), { n: 2, msg: 'request', level: 'info' })
})

t.test('the line format escapes every string value', async (t) => {
  const line = formatLogLine('info', ',"pid":1', { path: '"}\n{"injected":true' }, 'request')
  t.equal(line.split('\n').length, 2, 'one line')
  t.same(JSON.parse(line).path, '"}\n{"injected":true')
  t.notOk('injected' in JSON.parse(line))
})
