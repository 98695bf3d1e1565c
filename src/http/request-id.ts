/**
 * The request id: a valid incoming one (1-128 chars of A-Z a-z 0-9 . _ : -) is kept when the config trusts it,
 * otherwise a new UUID. Safe to put in headers, logs and error pages as is. Pure apart from the random UUID.
 */
import { randomUUID } from 'node:crypto'

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/

export function requestIdFor(incoming: string | string[] | undefined, trustIncoming: boolean): string {
  return trustIncoming && typeof incoming === 'string' && SAFE_ID.test(incoming) ? incoming : randomUUID()
}
