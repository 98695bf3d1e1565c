/**
 * Reads the first `limit` bytes of a request body for inspection, and gives back something to forward that carries
 * the exact original bytes: the Buffer itself when the whole body fit, or a stream that replays what was read and
 * then continues with the rest. Never more than `limit` bytes are held.
 */
import { Readable } from 'node:stream'

export interface BodyPrefix {
  readonly head: Buffer
  readonly truncated: boolean
  readonly forward: Buffer | Readable
  readonly error?: 'too-large' | 'aborted'
}

export function readBodyPrefix(stream: Readable, limit: number): Promise<BodyPrefix> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    let settled = false
    const settle = (r: BodyPrefix): void => {
      if (settled) return
      settled = true
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('error', onError)
      resolve(r)
    }
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk)
      size += chunk.length
      if (size > limit) {
        stream.pause()
        const all = Buffer.concat(chunks, size)
        const head = all.subarray(0, limit)
        const replay = Readable.from((async function* () {
          yield all
          for await (const c of stream) yield c as Buffer
        })(), { objectMode: false })
        stream.on('error', (e) => replay.destroy(e))
        settle({ head, truncated: true, forward: replay })
      }
    }
    const onEnd = (): void => {
      const all = Buffer.concat(chunks, size)
      settle({ head: all, truncated: false, forward: all })
    }
    const onError = (e: Error & { rampartCode?: string }): void => {
      settle({ head: Buffer.alloc(0), truncated: false, forward: Buffer.alloc(0),
        error: e.rampartCode === 'RAMPART_ERR_HTTP_BODY_TOO_LARGE' ? 'too-large' : 'aborted' })
    }
    stream.on('data', onData)
    stream.once('end', onEnd)
    stream.once('error', onError)
  })
}
