/** The Redis test helper itself: a clear instruction when redis-server is missing, and kill/restart on one port. */
import t from 'tap'
import { startRedis } from '../helpers/redis.js'
import { tempDir } from '../helpers/paths.js'
import { createConnection } from 'node:net'

/** PING over a raw socket: '+PONG', or the connection error code. */
function ping(port: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port })
    sock.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'))
    sock.on('connect', () => sock.write('PING\r\n'))
    sock.on('data', (d) => {
      resolve(d.toString().trim())
      sock.destroy()
    })
  })
}

t.test('a missing redis-server says what to install', async (t) => {
  const path = process.env.PATH
  process.env.PATH = tempDir(t) // an empty directory: no redis-server on the PATH
  try {
    await t.rejects(startRedis(), { message: /apt-get install redis-server/ })
  } finally {
    process.env.PATH = path
  }
})

t.test('kill and restart keep the port', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  t.equal(redis.url, `redis://127.0.0.1:${redis.port}`, 'loopback only')
  t.equal(await ping(redis.port), '+PONG')
  await redis.kill()
  t.equal(await ping(redis.port), 'ECONNREFUSED', 'killed: nothing listens')
  await redis.restart()
  t.equal(await ping(redis.port), '+PONG', 'restarted on the same port')
})
