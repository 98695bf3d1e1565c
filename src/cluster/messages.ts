/** Messages between the cluster primary and its workers (IPC). Plain JSON; every type is prefixed. */
import type { ReadinessCheck } from '../admin/server.js'

export type ToWorker =
  | { type: 'rampart:reload' }
  | { type: 'rampart:shutdown' }
  | { type: 'rampart:readyz'; id: number }

export type FromWorker =
  | { type: 'rampart:listening'; https: number }
  | { type: 'rampart:reloaded'; ok: boolean }
  | { type: 'rampart:readyz'; id: number; ready: boolean; checks: Record<string, ReadinessCheck> }

export function isRampartMessage(m: unknown): m is { type: string } {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string' &&
    (m as { type: string }).type.startsWith('rampart:')
}
