/**
 * A value now, or a promise of it. Hot paths return the value itself when they have it (a local allowance, a
 * synchronous check), so a request makes a promise only when it really waits for something (a store round trip).
 */
export type MaybePromise<T> = T | Promise<T>

export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function'
}
