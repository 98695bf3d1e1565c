import t from 'tap'
import { CHUNK_OVERLAP, CHUNK_TOKENS, fingerprint, type QuoteContext } from '../../src/threats/sqli/tokenizer.js'
import { normalizeValue } from '../../src/threats/normalize.js'

function fp(text: string, quote: QuoteContext = 0): string {
  let out = ''
  let chunks = 0
  fingerprint(normalizeValue(text), quote, (c) => {
    out += c
    chunks++
  })
  if (chunks !== 1) throw new Error(`expected one chunk, got ${chunks}`)
  return out
}

t.test('code context', async (t) => {
  const table: Array<[string, string]> = [
    ['1 or 1=1', '1&1=1$'],
    ['1 union all select null,null', '1UE1,1$'],
    ['-1 union select 1', '1UE1$'], // unary minus folded away
    ['1/**/union/**/select/**/1', '1UE1$'], // inline comments dropped
    ['1 /*!50000union*/ /*!select*/ 1', '1UE1$'], // executable comments unwrapped
    ['1 order by 3--', '1B1c$'],
    ['1 group/**/by 1', '1B1$'],
    ['1; drop table users', '1;Ekk$'],
    ['1 and sleep(5)', '1&x(1)$'],
    ['sleep (5)', 'x(1)$'],
    ['version()', 'x()$'],
    ['version (2)', 'n(1)$'], // ordinary word: needs the parenthesis at once
    ['char(65)', 'f(1)$'],
    ['unknownfn(1)', 'n(1)$'],
    ['@@version', 'v$'],
    ["waitfor delay '0:0:5'", 'Ws$'],
    ['1 and not 1', '1&1$'], // "and not" folds to "and"
    ['a b c', 'n$'], // bareword runs merge
    ['((1))', '(1)$'],
    ["'a' 'b'", 's$'], // adjacent strings concatenate
    ['0x7e 1e5 .5 3.14', '1111$'], // numbers do not merge
    ['18h 3rd', 'n$'], // digits glued to letters are words
    ['`tbl`.col', 'n?n$'],
    ['true or null', '1&1$'],
    ['a || b && c', 'n&n&n$'],
    ['x <> y != z <=> w', 'n=n=n=n$'],
    ['x like y', 'non$'],
    ['# comment\n1', '1$'], // a comment followed by code is dropped
    ['1 -- trailing', '1c$'],
    ['union club members', 'Un$'],
    ['select court 3', 'En1$'],
  ]
  for (const [input, want] of table) t.equal(fp(input), want, JSON.stringify(input))
})

t.test('quoted contexts start with the application\'s string', async (t) => {
  const table: Array<[string, QuoteContext, string]> = [
    ["' or 1=1--", 39, 's&1=1c$'],
    ["admin'--", 39, 'sc$'],
    ["x' or 'a'='a", 39, 's&s=s$'],
    ["O'Brien", 39, 'sn$'],
    ['" or ""="', 34, 's&s=s$'],
    ['no quote here', 39, 's$'],
    ["it''s", 39, 's$'], // the first quote closes the prefix, the second opens a string to the end; adjacent strings merge
    ["\\' or 1=1--", 39, 's&1=1c$'], // a backslash does not protect the first quote (not an escape in PostgreSQL or MSSQL)
  ]
  for (const [input, quote, want] of table) t.equal(fp(input, quote), want, `${JSON.stringify(input)} in ${quote === 39 ? 'single' : 'double'} quotes`)
})

t.test('long input is streamed in overlapping chunks', async (t) => {
  const padding = '1,'.repeat(CHUNK_TOKENS) // two tokens each
  const text = `${padding} union select 1`
  const chunks: Array<[string, boolean]> = []
  fingerprint(text, 0, (c, first) => chunks.push([c, first]))
  t.ok(chunks.length >= 2, 'more than one chunk')
  t.equal(chunks[0]![1], true, 'the first chunk says so')
  t.ok(chunks.slice(1).every(([, first]) => !first), 'later chunks are not first')
  t.ok(chunks.every(([c]) => c.length <= CHUNK_TOKENS + 1))
  const last = chunks[chunks.length - 1]![0]
  t.ok(last.endsWith('UE1$'), 'the tail is in the last chunk')
  // A pattern straddling a chunk boundary is still seen whole thanks to the overlap.
  const boundary = '1,'.repeat(CHUNK_TOKENS / 2 - 2) + 'x union select 1'
  let seen = false
  fingerprint(boundary, 0, (c) => { if (/UE/.test(c)) seen = true })
  t.ok(seen)
  t.ok(CHUNK_OVERLAP >= 8)
})
