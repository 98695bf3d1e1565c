/**
 * Turns YAML text into a validated, defaulted, frozen config, or into the complete list of problems.
 *
 * Pure: no file system. Steps: parse YAML (keeping positions) → substitute `${VAR}` / `${VAR:-default}` →
 * validate with Ajv against the one schema (converting units in place) → cross-field checks. Every problem carries
 * the line it comes from, so `rampart check` prints `file:line path: message`, like `nginx -t`.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import YAML, { isMap, isScalar, isSeq, LineCounter, type Document, type Node as YamlNode, type Pair } from 'yaml'
import type { TSchema } from '@sinclair/typebox'
import { checkFormat, type RampartFormat } from './types.js'
import { RampartConfigSchema, type RampartConfig } from './schema.js'
import type { ErrorCode } from '../errors.js'
import { crossCheck } from './cross-check.js'

export interface ConfigProblem {
  readonly file: string
  readonly line: number
  /** Dotted path with indexes, e.g. `sites[0].upstream`; empty for the document itself. */
  readonly path: string
  readonly message: string
  readonly code: ErrorCode
  readonly severity: 'error' | 'warning'
}

export type ValidationResult<T> =
  | { ok: true; config: T; warnings: ConfigProblem[]; locate: (path: readonly PathSegment[]) => number }
  | { ok: false; problems: ConfigProblem[] }

export type PathSegment = string | number

export function formatPath(path: readonly PathSegment[]): string {
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`
    else out += out ? `.${seg}` : seg
  }
  return out
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.path ? ` ${oneLine(p.path)}:` : ''
  const tag = p.severity === 'warning' ? ' (warning)' : ''
  return `${p.file}:${p.line}${where} ${oneLine(p.message)}${tag}`
}

/** One problem, one line: a key that is itself a mapping (`? {…}`) would otherwise carry its newlines into the path. */
function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ')
}

/** Builds an Ajv validator for any schema built from `./types.js`. Compiled once per schema. */
export function compileSchema(schema: TSchema): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, verbose: true, useDefaults: true, coerceTypes: false, strict: true, strictTypes: false })
  ajv.addKeyword({
    keyword: 'rampartFormat',
    modifying: true,
    errors: true,
    schemaType: 'string',
    validate: function rampartFormat(
      this: unknown,
      format: RampartFormat,
      data: unknown,
      _parent?: unknown,
      cxt?: { parentData: Record<string | number, unknown>; parentDataProperty: string | number },
    ): boolean {
      const result = checkFormat(format, data)
      const self = rampartFormat as unknown as { errors: Partial<ErrorObject>[] | null }
      if (!result.ok) {
        self.errors = [{ keyword: 'rampartFormat', message: result.message ?? 'is invalid', params: { format } }]
        return false
      }
      if (cxt && cxt.parentData !== undefined && result.value !== data) cxt.parentData[cxt.parentDataProperty] = result.value
      self.errors = null
      return true
    },
  })
  return ajv.compile(schema)
}

let rootValidator: ValidateFunction | undefined
function rootValidate(): ValidateFunction {
  rootValidator ??= compileSchema(RampartConfigSchema)
  return rootValidator
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g
const MEANINGFUL = new Set(['rampartFormat', 'enum', 'minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems'])
const ENV_MISSING = '\u0000rampart:env-missing'
const TYPE_WORDS: Record<string, string> = {
  integer: 'an integer', number: 'a number', string: 'a string', boolean: 'true or false',
  array: 'a list', object: 'a mapping', null: 'empty',
}
const WHOLE_ENV_REF = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/

export interface ValidateOptions {
  readonly file: string
  readonly env: Readonly<Record<string, string | undefined>>
}

export function validateConfigText(text: string, options: ValidateOptions): ValidationResult<RampartConfig> {
  return validateText(text, options, rootValidate(), crossCheck)
}

type CrossCheck<T> = (config: T, at: (path: readonly PathSegment[]) => number) => Array<Omit<ConfigProblem, 'file' | 'line'> & { at: readonly PathSegment[] }>

/** The generic pipeline, exported so a section's tests can validate a fragment against its own schema. */
export function validateText<T>(
  text: string,
  { file, env }: ValidateOptions,
  validate: ValidateFunction,
  cross?: CrossCheck<T>,
): ValidationResult<T> {
  const lineCounter = new LineCounter()
  const problems: ConfigProblem[] = []
  const lineOf = (offset: number | undefined): number => (offset === undefined ? 1 : lineCounter.linePos(offset).line)

  const doc = YAML.parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true })
  for (const err of doc.errors) {
    problems.push({
      file, line: err.linePos?.[0]?.line ?? lineOf(err.pos[0]), path: '',
      message: `invalid YAML: ${firstLine(err.message)}`, code: 'RAMPART_ERR_CONFIG_YAML', severity: 'error',
    })
  }
  if (problems.length > 0) return { ok: false, problems }
  if (doc.contents === null || !isMap(doc.contents)) {
    return {
      ok: false,
      problems: [{
        file, line: lineOf(doc.contents?.range?.[0]), path: '', message: 'the configuration must be a YAML mapping',
        code: 'RAMPART_ERR_CONFIG_SCHEMA', severity: 'error',
      }],
    }
  }

  const missingEnv: Array<{ node: YamlNode; name: string }> = []
  const fromEnv = substituteEnv(doc, env, (node, name) => missingEnv.push({ node, name }))
  let data = toData(doc)
  if (data instanceof Error) {
    // An alias expansion bomb ("billion laughs"): the yaml library refuses it by throwing.
    return { ok: false, problems: [{ file, line: 1, path: '', message: `invalid YAML: ${firstLine(data.message)}`, code: 'RAMPART_ERR_CONFIG_YAML', severity: 'error' }] }
  }
  if (missingEnv.length > 0) {
    // Values whose variable is missing hold a sentinel; their paths come out in document order, like the nodes.
    const paths = sentinelPaths(data)
    const nodes = [...new Set(missingEnv.map((m) => m.node))]
    for (const m of missingEnv) {
      const path = paths[nodes.indexOf(m.node)] ?? []
      problems.push({
        file, line: lineOf(m.node.range?.[0]), path: formatPath(path),
        message: `environment variable ${m.name} is not set (use \${${m.name}:-default} for a default)`,
        code: 'RAMPART_ERR_CONFIG_ENV', severity: 'error',
      })
    }
  }
  const locate = (path: readonly PathSegment[], key?: string): number => {
    if (key !== undefined) {
      const parent = doc.getIn(path, true) as YamlNode | undefined
      if (parent && isMap(parent)) {
        const pair = parent.items.find((p: Pair) => isScalar(p.key) && p.key.value === key)
        const keyNode = pair?.key as YamlNode | undefined
        if (keyNode?.range) return lineOf(keyNode.range[0])
      }
    }
    for (let i = path.length; i >= 0; i--) {
      const node = doc.getIn(path.slice(0, i), true) as YamlNode | undefined
      if (node?.range) return lineOf(node.range[0])
    }
    return 1
  }

  let valid = validate(data)
  if (!valid && retypeEnvValues(validate.errors ?? [], doc, fromEnv)) {
    // Validation converts values in place, so the second pass starts again from the (retyped) document.
    data = toData(doc)
    valid = validate(data)
  }
  if (!valid) {
    for (const e of simplifyErrors(validate.errors ?? [])) {
      const path = pointerToPath(e.instancePath)
      if (getIn(data, path) === ENV_MISSING) continue
      let message = e.message ?? 'is invalid'
      let line: number
      let shownPath = path
      if (e.keyword === 'additionalProperties') {
        const key = String((e.params as { additionalProperty: string }).additionalProperty)
        const allowed = Object.keys(((e.parentSchema as { properties?: object } | undefined)?.properties) ?? {})
        const hint = suggest(key, allowed)
        message = `unknown key '${key}'${hint ? ` (did you mean '${hint}'?)` : ''}`
        line = locate(path, key)
        shownPath = [...path, key]
      } else if (e.keyword === 'required') {
        const key = String((e.params as { missingProperty: string }).missingProperty)
        message = `missing required key '${key}'`
        line = locate(path)
      } else if (e.keyword === 'enum') {
        const allowed = (e.params as { allowedValues: unknown[] }).allowedValues
        message = `must be one of: ${allowed.map((v) => JSON.stringify(v)).join(', ')}`
        line = locate(path)
      } else if (e.keyword === 'type') {
        const want = String((e.params as { type: string }).type).split(',')
        message = `must be ${want.map((w) => TYPE_WORDS[w] ?? w).join(' or ')}`
        line = locate(path)
      } else {
        line = locate(path)
      }
      problems.push({ file, line, path: formatPath(shownPath), message, code: 'RAMPART_ERR_CONFIG_SCHEMA', severity: 'error' })
    }
  }
  if (problems.some((p) => p.severity === 'error')) return { ok: false, problems: sortProblems(problems) }

  const config = data as T
  const warnings: ConfigProblem[] = []
  if (cross) {
    for (const c of cross(config, (p) => locate(p))) {
      const { at, ...rest } = c
      const entry = { ...rest, file, line: locate(at) }
      if (entry.severity === 'error') problems.push(entry)
      else warnings.push(entry)
    }
  }
  if (problems.length > 0) return { ok: false, problems: sortProblems([...problems, ...warnings]) }
  return { ok: true, config: deepFreeze(config), warnings, locate: (p) => locate(p) }
}

/** The document as plain data, or the error the yaml library throws when aliases expand too much. */
function toData(doc: Document): unknown {
  try {
    return doc.toJS({ maxAliasCount: 100 }) as unknown
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err))
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim()
}

function sortProblems(list: ConfigProblem[]): ConfigProblem[] {
  return [...list].sort((a, b) => a.line - b.line || a.path.localeCompare(b.path))
}

/** Replaces `${VAR}` in every string scalar. A value that is only `${VAR}` is read as a YAML scalar (so a port can be a number). */
function substituteEnv(
  doc: Document,
  env: Readonly<Record<string, string | undefined>>,
  missing: (node: YamlNode, name: string) => void,
): Set<unknown> {
  const fromEnv = new Set<unknown>()
  YAML.visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string' || !node.value.includes('${')) return
      const raw = node.value
      const whole = WHOLE_ENV_REF.exec(raw)
      let failed = false
      const replaced = raw.replace(ENV_REF, (_m, name: string, fallback: string | undefined) => {
        const v = env[name]
        if (v !== undefined && v !== '') return v
        if (fallback !== undefined) return fallback
        failed = true
        missing(node, name)
        return ''
      })
      if (failed) {
        // The missing variable is already reported; keep the schema from reporting the same value again.
        node.value = ENV_MISSING
        return
      }
      if (whole) {
        const typed = YAML.parse(replaced === '' ? '""' : replaced, { schema: 'core' }) as unknown
        node.value = typeof typed === 'number' || typeof typed === 'boolean' ? typed : replaced
      } else {
        node.value = replaced
      }
      fromEnv.add(node.value)
    },
  })
  return fromEnv
}

/** A secret from the environment may look like a number (`${TOKEN}` = 12345). Where a string is wanted, keep it a string. */
function retypeEnvValues(errors: ErrorObject[], doc: Document, fromEnv: Set<unknown>): boolean {
  let changed = false
  for (const e of errors) {
    if (e.keyword !== 'type' || (e.params as { type: string }).type !== 'string') continue
    const node = doc.getIn(pointerToPath(e.instancePath), true) as YamlNode | undefined
    if (node && isScalar(node) && fromEnv.has(node.value) && (typeof node.value === 'number' || typeof node.value === 'boolean')) {
      node.value = String(node.value)
      changed = true
    }
  }
  return changed
}

function sentinelPaths(data: unknown, path: PathSegment[] = [], out: PathSegment[][] = []): PathSegment[][] {
  if (data === ENV_MISSING) out.push(path)
  else if (Array.isArray(data)) data.forEach((v, i) => sentinelPaths(v, [...path, i], out))
  else if (data && typeof data === 'object') for (const [k, v] of Object.entries(data)) sentinelPaths(v, [...path, k], out)
  return out
}

function getIn(data: unknown, path: readonly PathSegment[]): unknown {
  let cur = data
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string | number, unknown>)[seg]
  }
  return cur
}

function pointerToPath(pointer: string): PathSegment[] {
  if (!pointer) return []
  return pointer.slice(1).split('/').map((s) => {
    const seg = s.replace(/~1/g, '/').replace(/~0/g, '~')
    return /^\d+$/.test(seg) ? Number(seg) : seg
  })
}

/**
 * Ajv reports every branch of a failed `anyOf`. Keep what helps: if a branch got deeper into the data, its errors;
 * otherwise one message naming what was expected.
 */
function simplifyErrors(errors: ErrorObject[]): ErrorObject[] {
  const anyOfs = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf')
  if (anyOfs.length === 0) return dedupe(errors)
  const out: ErrorObject[] = []
  const consumed = new Set<ErrorObject>()
  for (const a of anyOfs) {
    const branch = errors.filter((e) => e !== a && e.schemaPath.startsWith(a.schemaPath.replace(/\/(anyOf|oneOf)$/, '/$1/')))
    branch.forEach((e) => consumed.add(e))
    const deeper = branch.filter((e) => e.instancePath.length > a.instancePath.length)
    // A branch whose type fitted the data but whose content did not (a string that is not a URL) says the most.
    // (Only keywords whose messages read well; a raw `pattern` is no help to an operator.)
    const contentOnly = branch.filter((e) => e.instancePath === a.instancePath && MEANINGFUL.has(e.keyword))
    if (deeper.length > 0) {
      out.push(...deeper)
    } else if (contentOnly.length > 0) {
      out.push(...contentOnly)
    } else {
      const expected = describeAlternatives(a)
      out.push({ ...a, message: expected ? `must be ${expected}` : 'does not match any allowed form' })
    }
  }
  for (const e of errors) if (!consumed.has(e) && !anyOfs.includes(e)) out.push(e)
  return dedupe(out)
}

function describeAlternatives(e: ErrorObject): string | undefined {
  const alts = (e.schema as Array<{ const?: unknown; type?: string; rampartFormat?: string }> | undefined) ?? []
  if (!Array.isArray(alts) || alts.length === 0) return undefined
  const words: Record<string, string> = { httpUrl: 'a URL', array: 'a list', object: 'a mapping', string: 'a string', integer: 'an integer', boolean: 'true or false', duration: 'a duration', size: 'a size' }
  const parts = alts.map((s) => (s.const !== undefined ? JSON.stringify(s.const) : words[s.rampartFormat ?? s.type ?? ''] ?? s.rampartFormat ?? s.type ?? 'a value'))
  return parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(', ')} or ${parts[parts.length - 1]}`
}

function dedupe(errors: ErrorObject[]): ErrorObject[] {
  const seen = new Set<string>()
  return errors.filter((e) => {
    const k = `${e.instancePath}|${e.keyword}|${e.message}|${JSON.stringify(e.params)}`
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}

/** Closest allowed key by edit distance, when it is close enough to be a typo. */
export function suggest(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined
  let bestD = Infinity
  for (const a of allowed) {
    const d = editDistance(key.toLowerCase(), a.toLowerCase())
    if (d < bestD) { bestD = d; best = a }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined
}

/** Edit distance counting a swap of two neighbours as one edit (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1)
      d[i]![j] = v
    }
  }
  return d[a.length]![b.length]!
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value as object)) deepFreeze(v)
  }
  return value
}

export { isSeq }
