/**
 * Parsers for the units an operator writes in YAML: durations (`500ms`, `15m`, `1h30m`) and sizes (`64kb`, `1mb`).
 * Pure: each returns the number or `undefined` when the text is not of that unit. Sizes use 1024 (like nginx:
 * `1k` = `1kb` = 1024 bytes).
 */

const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `15m` → 900000. Compound values (`1h30m`) add up. A bare `0` is zero; any other number needs a unit. */
export function parseDuration(text: unknown): number | undefined {
  if (typeof text === 'number') return text === 0 ? 0 : undefined
  if (typeof text !== 'string') return undefined
  const s = text.trim()
  if (s === '0') return 0
  if (s.length === 0 || s.length > 64) return undefined
  let total = 0
  let pos = 0
  while (pos < s.length) {
    DURATION_PART.lastIndex = pos
    const m = DURATION_PART.exec(s)
    if (!m) return undefined
    total += Number(m[1]) * (DURATION_MS[m[2]!] ?? 0)
    pos = DURATION_PART.lastIndex
  }
  return Math.round(total)
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i
const SIZE_FACTOR: Record<string, number> = {
  b: 1,
  k: 1024, kb: 1024, kib: 1024,
  m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3,
}

/** `64kb` → 65536. A plain non-negative integer is a byte count. */
export function parseSize(text: unknown): number | undefined {
  if (typeof text === 'number') return Number.isInteger(text) && text >= 0 ? text : undefined
  if (typeof text !== 'string') return undefined
  const m = SIZE.exec(text.trim())
  if (!m) return undefined
  const unit = (m[2] ?? 'b').toLowerCase()
  return Math.floor(Number(m[1]) * (SIZE_FACTOR[unit] ?? 1))
}

export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0 && ms > 0) return `${ms / 86_400_000}d`
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`
  return `${ms}ms`
}
