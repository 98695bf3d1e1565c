/**
 * Fuzzing the config loader: random YAML-like text, and mutated versions of the two shipped configs (keys deleted,
 * values swapped for other types or random scalars, unknown keys inserted, lines deleted, duplicated, re-indented,
 * cut or sprinkled with stray characters).
 *
 * Whatever the text, `validateConfigText` and `loadConfigFile` never throw: the answer is either a valid, frozen
 * config or a non-empty list of problems, each printable as one `file:line path: message` line with a real line
 * number and a catalogued error code. Regression: an alias expansion bomb (YAML "billion laughs") used to
 * escape as the yaml library's ReferenceError; it is now an `invalid YAML` problem.
 */
import t from 'tap'
import fc from 'fast-check'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import YAML from 'yaml'
import { validateConfigText, formatProblem, type ConfigProblem } from '../../src/config/validate.js'
import { loadConfigFile } from '../../src/config/load.js'
import { ERRORS } from '../../src/errors.js'
import { projectRoot, tempDir } from '../helpers/paths.js'

const ENV = { RAMPART_ADMIN_TOKEN: 'fuzz-admin-token-0123456789abcdef', X: '8443' }
const SOURCES = ['rampart.example.yaml', 'minimal.yaml'].map((name) => ({ name, text: readFileSync(join(projectRoot, 'config', name), 'utf8') }))

/** Why `problems` is not a clean list for `text`, or undefined. */
function unclean(problems: readonly ConfigProblem[], file: string, text: string): string | undefined {
  if (problems.length === 0) return 'refused without a problem'
  if (!problems.some((p) => p.severity === 'error')) return 'refused with warnings only'
  const lines = text.split('\n').length
  for (const p of problems) {
    if (p.file !== file) return `file ${p.file}`
    if (!Number.isInteger(p.line) || p.line < 1 || p.line > lines + 1) return `line ${p.line} of ${lines}`
    if (!Object.hasOwn(ERRORS, p.code)) return `code ${p.code} is not catalogued`
    if (p.message.trim() === '') return 'an empty message'
    const shown = formatProblem(p)
    if (/[\r\n]/.test(shown)) return `a message over several lines: ${JSON.stringify(shown)}`
    if (!shown.startsWith(`${file}:${p.line} `)) return `not file:line: ${shown}`
  }
  return undefined
}

let accepted = 0
/** Validates `text`; throws (failing the property with the text as counterexample) on anything but a clean answer. */
function check(text: string, file = 'rampart.yaml'): void {
  const r = validateConfigText(text, { file, env: ENV })
  if (r.ok) {
    if (!Object.isFrozen(r.config) || typeof r.config !== 'object') throw new Error('accepted config is not a frozen object')
    accepted++
    return
  }
  const why = unclean(r.problems, file, text)
  if (why) throw new Error(why)
}

// --- structural mutations of a shipped config -------------------------------------------------------------------

type Path = Array<string | number>
function pathsOf(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at)
  if (Array.isArray(v)) v.forEach((x, i) => pathsOf(x, [...at, i], out))
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) pathsOf(x, [...at, k], out)
  return out
}

const scalar = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null),
  fc.constantFrom('1s', '-5m', '0', '99999999999999999999', '10.0.0.0/33', 'http://', 'https://a.test', '*.*.x', 'auto', '', ' '))
const edit = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('delete', 'replace', 'unknown-key', 'wrap-list', 'unwrap', 'stringify'),
  value: fc.oneof(scalar, fc.jsonValue({ maxDepth: 2 })),
  key: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 'hosts', 'sites', 'redis')),
})

function applyEdit(root: unknown, e: { at: number; op: string; value: unknown; key: string }): unknown {
  const paths = pathsOf(root)
  const path = paths[e.at % paths.length]!
  if (path.length === 0) return e.op === 'replace' ? e.value : root
  const parent = path.slice(0, -1).reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], root) as Record<string | number, unknown>
  const last = path[path.length - 1]!
  const current = parent[last]
  switch (e.op) {
    case 'delete':
      if (Array.isArray(parent)) parent.splice(last as number, 1)
      else delete parent[last]
      break
    case 'replace': parent[last] = e.value; break
    case 'unknown-key':
      if (current && typeof current === 'object' && !Array.isArray(current)) Object.defineProperty(current, e.key, { value: e.value, enumerable: true, writable: true, configurable: true })
      else parent[last] = e.value
      break
    case 'wrap-list': parent[last] = [current]; break
    case 'unwrap': parent[last] = Array.isArray(current) ? current[0] : current && typeof current === 'object' ? Object.values(current)[0] : current
      break
    case 'stringify': parent[last] = JSON.stringify(current) ?? 'null'; break
  }
  return root
}

t.test('shipped configs with random structural edits', async (t) => {
  accepted = 0
  const docs = SOURCES.map((s) => ({ name: s.name, data: YAML.parse(s.text) as unknown }))
  fc.assert(fc.property(fc.constantFrom(...docs), fc.array(edit, { minLength: 1, maxLength: 4 }), (doc, edits) => {
    const mutated = edits.reduce((d, e) => applyEdit(d, e), structuredClone(doc.data))
    check(YAML.stringify(mutated) ?? '', doc.name)
  }), { numRuns: 500 })
  t.ok(accepted > 0, `${accepted} of 500 mutated configs were still valid; the rest gave clean problem lists`)
})

// --- textual mutations ------------------------------------------------------------------------------------------

const textEdit = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('delete-line', 'indent', 'dedent', 'tab', 'duplicate-line', 'insert', 'cut', 'swap-char'),
  text: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom(': ', '- ', '{', '[', '&a', '*a', '!!binary', '<<: *a', '#', '"', "'", '${X}', '${NOPE}', '|', '\t', '---', '? ')),
})

function applyTextEdit(text: string, e: { at: number; op: string; text: string }): string {
  const lines = text.split('\n')
  const i = e.at % lines.length
  const at = e.at % (text.length + 1)
  switch (e.op) {
    case 'delete-line': lines.splice(i, 1); break
    case 'indent': lines[i] = `  ${lines[i]}`; break
    case 'dedent': lines[i] = lines[i]!.replace(/^ {1,2}/, ''); break
    case 'tab': lines[i] = `\t${lines[i]}`; break
    case 'duplicate-line': lines.splice(i, 0, lines[i]!); break
    case 'insert': return text.slice(0, at) + e.text + text.slice(at)
    case 'cut': return text.slice(0, at)
    case 'swap-char': return text.slice(0, at) + e.text.slice(0, 1) + text.slice(at + 1)
  }
  return lines.join('\n')
}

t.test('shipped configs with random textual edits (broken indentation, stray characters, cut files)', async (t) => {
  accepted = 0
  fc.assert(fc.property(fc.constantFrom(...SOURCES), fc.array(textEdit, { minLength: 1, maxLength: 5 }), (src, edits) => {
    check(edits.reduce(applyTextEdit, src.text), src.name)
  }), { numRuns: 600 })
  t.ok(accepted > 0, `${accepted} of 600 edited files were still valid; the rest gave clean problem lists`)
})

// --- random YAML-like text --------------------------------------------------------------------------------------

const TOKENS = ['key: ', '- ', '  ', '\n', '\n  ', '{', '}', '[', ']', ', ', '&a ', '*a', '!!binary ', '!!str ', '!!map ', '!tag ', '<<: ', '? ',
  '---\n', '...\n', '"', "'", '|\n', '>-\n', '# c\n', '${X}', '${X:-1}', '${NOPE}', 'sites', 'tls', 'listen', 'certificates', 'hosts: ',
  'upstream: ', 'http://127.0.0.1:1', '0x1F', '.inf', '1e999', '~', 'null', 'true', 'yes', '\t', ':', '%YAML 1.2\n', '@', '`', '\u0000', '\ufeff']
const yamlish = fc.array(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...TOKENS) }, { weight: 1, arbitrary: fc.string({ maxLength: 5 }) }), { maxLength: 40 })
  .map((a) => a.join(''))

t.test('random YAML-like text and arbitrary strings', async (t) => {
  fc.assert(fc.property(fc.oneof(yamlish, fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 })), (text) => check(text)), { numRuns: 1500 })
  t.pass('1500 random documents: no throw, every refusal a clean problem list')
})

t.test('loadConfigFile on mutated files never throws', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'rampart.yaml')
  await fc.assert(fc.asyncProperty(fc.constantFrom(...SOURCES), fc.array(textEdit, { maxLength: 3 }), async (src, edits) => {
    const text = edits.reduce(applyTextEdit, src.text)
    writeFileSync(file, text)
    const r = await loadConfigFile(file, { env: ENV })
    // Certificates named by the shipped configs do not exist here: a valid text still ends with problems.
    const why = r.ok ? undefined : unclean(r.problems, r.problems[0]?.file ?? '', text)
    if (why) throw new Error(why)
  }), { numRuns: 100 })
  t.pass('100 files loaded: no throw')
})

t.test('regression: an alias expansion bomb is an invalid-YAML problem, not a thrown ReferenceError', async (t) => {
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
    'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]', ''].join('\n')
  const r = validateConfigText(bomb, { file: 'bomb.yaml', env: {} })
  t.notOk(r.ok)
  t.same(r.ok ? [] : r.problems.map(formatProblem), ['bomb.yaml:1 invalid YAML: Excessive alias count indicates a resource exhaustion attack'])
})

t.test('regression: a key that is itself a mapping is reported on one line', async (t) => {
  // Found by the text fuzzer: `? ` turns the first comment-less line into a mapping used as a key.
  const r = validateConfigText('? {\n  a: 1\n}\n: 2\n', { file: 'key.yaml', env: {} })
  t.equal(r.ok, false)
  if (!r.ok) t.same(r.problems.map(formatProblem).filter((l) => l.includes('unknown key')), ["key.yaml:1 { a: 1 }: unknown key '{ a: 1 }'"])
})
