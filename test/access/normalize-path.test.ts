import t from 'tap'
import fc from 'fast-check'
import { normalizePathForMatching, pathHasPrefix } from '../../src/access/normalize-path.js'

t.test('canonical paths', async (t) => {
  const table: Array<[string, string, string]> = [
    ['root', '/', '/'],
    ['empty', '', '/'],
    ['plain', '/admin/users', '/admin/users'],
    ['trailing slash dropped', '/admin/', '/admin'],
    ['case folded', '/ADMIN/Users', '/admin/users'],
    ['unreserved escape decoded', '/%61dmin', '/admin'],
    ['upper-case escape', '/%41DMIN', '/admin'],
    ['double slash collapsed', '//admin//users', '/admin/users'],
    ['dot segment', '/./admin/./x', '/admin/x'],
    ['dot-dot resolved', '/x/../admin', '/admin'],
    ['dot-dot above root stays at root', '/../../admin', '/admin'],
    ['encoded dots', '/%2e%2e/admin', '/admin'],
    ['encoded dot-dot resolved', '/x/%2E%2E/admin', '/admin'],
    ['encoded slash is a separator', '/admin%2fusers', '/admin/users'],
    ['encoded backslash is a separator', '/x%5c..%5cadmin', '/admin'],
    ['backslash is a separator', '\\admin\\users', '/admin/users'],
    ['double-encoded stays literal', '/%252e%252e/admin', '/%252e%252e/admin'],
    ['percent sign stays encoded', '/100%/x', '/100%25/x'],
    ['path parameters cut', '/admin;jsessionid=1/users', '/admin/users'],
    ['tomcat dot-dot-semicolon', '/x/..;/admin', '/admin'],
    ['query dropped', '/admin?x=/public', '/admin'],
    ['fragment dropped', '/admin#x', '/admin'],
    ['absolute-form target', 'http://example.com:8080/admin/x?y', '/admin/x'],
    ['absolute-form without path', 'https://example.com', '/'],
    ['non-ASCII encoded', '/café', '/caf%c3%a9'],
    ['non-ASCII escape kept encoded', '/caf%C3%A9', '/caf%c3%a9'],
    ['space encoded', '/a b', '/a%20b'],
    ['sub-delimiters kept', "/a!$&'()*+,=:@b", "/a!$&'()*+,=:@b"],
    ['NUL stays encoded', '/admin%00.php', '/admin%00.php'],
    ['no leading slash', 'admin', '/admin'],
    ['only dots', '/./.././', '/'],
  ]
  for (const [name, input, want] of table) t.equal(normalizePathForMatching(input), want, `${name}: ${JSON.stringify(input)}`)
})

t.test('every bypass spelling of /admin maps to /admin', async (t) => {
  const spellings = ['/admin', '/ADMIN', '/%61dmin', '/%61%64%6d%69%6e', '//admin', '///admin/', '/x/../admin', '/./admin',
    '/%2e/admin', '/x/%2e%2e/admin', '\\admin', '/admin;x=1', '/admin/.', '/public/..%2fadmin', '/public%2f..%2fadmin']
  for (const s of spellings) t.ok(pathHasPrefix(normalizePathForMatching(s), '/admin'), s)
})

t.test('pathHasPrefix is segment-wise', async (t) => {
  const table: Array<[string, string, boolean]> = [
    ['/admin', '/admin', true],
    ['/admin/x', '/admin', true],
    ['/administrator', '/admin', false],
    ['/adm', '/admin', false],
    ['/anything', '/', true],
    ['/', '/', true],
    ['/', '/admin', false],
  ]
  for (const [path, prefix, want] of table) t.equal(pathHasPrefix(path, prefix), want, `${path} under ${prefix}`)
})

t.test('properties', async (t) => {
  fc.assert(fc.property(fc.string({ maxLength: 80 }), (s) => {
    const once = normalizePathForMatching(s)
    if (!once.startsWith('/')) throw new Error('must start with /')
    if (once.length > 1 && once.endsWith('/')) throw new Error('no trailing slash')
    if (once.includes('//') || /(^|\/)\.\.?(\/|$)/.test(once)) throw new Error(`not canonical: ${once}`)
    return normalizePathForMatching(once) === once
  }), { numRuns: 2000 })
  t.pass('canonical, and idempotent')
})
