/**
 * Caps a streamed request body. Bodies are never buffered: bytes are counted as they pass, and the stream fails
 * with RAMPART_ERR_HTTP_BODY_TOO_LARGE (413) once the cap is crossed. A declared Content-Length over the cap is
 * refused before any byte is read (see the gateway's onRequest hook).
 */
import { Transform, type TransformCallback } from 'node:stream'

export class BodyLimit extends Transform {
  private seen = 0
  constructor(private readonly limit: number) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length
    if (this.seen > this.limit) {
      const err = new Error(`request body exceeds ${this.limit} bytes`) as Error & { rampartCode: string }
      err.rampartCode = 'RAMPART_ERR_HTTP_BODY_TOO_LARGE'
      cb(err)
      return
    }
    cb(null, chunk)
  }
}
