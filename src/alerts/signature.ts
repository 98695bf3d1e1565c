/**
 * Webhook signatures: `x-rampart-signature: sha256=<hex>` is the HMAC-SHA256, keyed with the configured secret, of
 * `<timestamp>.<body>`, where `<timestamp>` is the `x-rampart-timestamp` header (Unix seconds). Binding the
 * timestamp lets a receiver refuse replays of old deliveries.
 *
 * Contract: `signPayload` is deterministic; `verifySignature` compares in constant time and checks the age.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

export const SIGNATURE_HEADER = 'x-rampart-signature'
export const TIMESTAMP_HEADER = 'x-rampart-timestamp'

export function signPayload(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`
}

/** For receivers and tests: true when the signature is valid and the timestamp within `maxAgeSeconds` of `now`. */
export function verifySignature(
  secret: string,
  timestamp: string | undefined,
  body: string,
  signature: string | undefined,
  nowSeconds: number,
  maxAgeSeconds = 300,
): boolean {
  if (timestamp === undefined || signature === undefined || !/^\d{1,12}$/.test(timestamp)) return false
  const ts = Number(timestamp)
  if (Math.abs(nowSeconds - ts) > maxAgeSeconds) return false
  const want = Buffer.from(signPayload(secret, ts, body))
  const got = Buffer.from(signature)
  return want.length === got.length && timingSafeEqual(want, got)
}
