/**
 * Integer command-line options of the bench commands (`run.ts`, `soak.ts`, `instructions.ts`).
 *
 * `intOption(name, text, fallback, min, max)`: `fallback` when the option was not given (undefined); otherwise the
 * integer, or an error naming the option and its range. An empty text is a value like any other (and not an
 * integer): a caller that reads environment variables, where empty means unset, maps '' to undefined first.
 */
export function intOption(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`--${name} must be an integer from ${min} to ${max}, got "${text}"`)
  }
  return value
}

/** Undefined for an empty text (an environment variable set to nothing, or `--flag=`), the text otherwise. */
export function unsetIfEmpty(text: string | undefined): string | undefined {
  return text === '' ? undefined : text
}
