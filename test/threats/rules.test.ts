import t from 'tap'
import { RULES, RULE_IDS, type ThreatRule } from '../../src/threats/rules.js'
import { THREAT_FAMILIES } from '../../src/threats/types.js'
import { compileInspector, type Place } from '../../src/threats/inspector.js'
import { formDecode } from '../../src/threats/decode.js'

/** True when the single rule `id` matches `value` at `place` (wire value; query values are form-decoded once). */
function ruleMatches(id: string, value: string, place: Place): boolean {
  const inspector = compileInspector(RULES.filter((r) => r.id === id), { paranoia: 3, families: THREAT_FAMILIES })
  let hit = false
  const decoded = place === 'query' ? formDecode(value) : value
  inspector.inspect(value, decoded, place, () => false, () => { hit = true })
  return hit
}

function placeFor(rule: ThreatRule): Place {
  if (rule.scope === 'path') return 'path'
  if (rule.scope === 'user-agent') return 'user-agent'
  return 'body'
}

// Every rule: values it must match and values it must not (real text that looks close).
const CASES: Record<string, { match: string[]; pass: string[] }> = {
  'sqli-001': { match: ["' or 1=1--", "x' and sleep(5)#", "' or 'a'='a", "' or ''='", "') or ('x'='x"], pass: ["Côte d'Or 21", "O'Brien", "l'or et l'argent", "Rue de l'Or 12; 2nd floor"] },
  'sqli-002': { match: ['1 or 1=1', '1) and (select 1)', '-1 or 1=1--'], pass: ['1 or 2', '3 or 4 players', '1 and 2'] },
  'sqli-003': { match: ['1 union select 1', "x' union all select null--", '1/**/union/**/select 1', 'union(select 1)'], pass: ['union club members', 'the union, select later'] },
  'sqli-004': { match: ['1; drop table users', "'; exec xp_cmdshell 'dir'--", "x'; waitfor delay '0:0:1'--"], pass: ['hello; update me', 'Court closed; select another'] },
  'sqli-005': { match: ["admin'--", "admin')#", "x';/*"], pass: ["O'Brien -- great", "can't -- sorry"] },
  'sqli-006': { match: ['sleep(5)', '1 and benchmark(100,md5(1))', "x' and extractvalue(1,version())", 'database()'], pass: ['need some sleep (lol)', 'Version (2.1)', 'sleep(8h)', 'User (admin)'] },
  'sqli-007': { match: ["1; waitfor delay '0:0:5'--", "waitfor time '23:59'"], pass: ['waitfor me', 'waitfor delay'] },
  'sqli-008': { match: ["' order by 3--", "'+(select 1)+'", "'||char(65)||'"], pass: ["let's order by date", "it's 'order' time"] },
  'sqli-009': { match: ['1 order by 5', '1 group by 1,2', '1 limit 1'], pass: ['order by date', 'court 1 order by date'] },
  'sqli-010': { match: ["1'='1", "x'='x", "a'<'b"], pass: ['5\'11"', "it's = fine"] },
  'sqli-011': { match: ['admin or 1=1', "x or 'a'='a'"], pass: ['admin or root', 'tea or coffee = fine'] },
  'sqli-012': { match: ['1+(select 1)', '1*(select count(*) from users)'], pass: ['1 + 2', '1 - court'] },
  'sqli-101': { match: ['hello or 1=1 then', "name and 'a'='a'"], pass: ['adults and children', 'score 6 = win'] },
  'sqli-102': { match: ['hello; select * from users', 'x; drop table users'], pass: ['hello; update your profile', 'drop-in; session'] },
  'sqli-103': { match: ["' select 1", "x') delete"], pass: ["x' y select"] },
  'sqli-104': { match: ["Ballon d'Or 2024", "x' or y"], pass: ["O'Brien"] },
  'sqli-105': { match: ['x and char(65)', 'y or sleep(1)'], pass: ['x and y', 'bread and butter (salted)'] },
  'sqli-201': { match: ["x' - 1", "x'; y"], pass: ["x' y", "O'Brien"] },
  'sqli-202': { match: ['select name from users', 'select * from x'], pass: ['select court 3'] },
  'sqli-203': { match: ['1--', 'admin#'], pass: ['admin', '#1 player'] },

  'xss-001': { match: ['<script>alert(1)</script>', '</SCRIPT>', '%3Cscript%3E'], pass: ['script writing', '<scripts>', '< script>'] },
  'xss-002': { match: ['<img src=x onerror=alert(1)>', '" onmouseover="x', '<svg/onload=x>'], pass: ['onload', 'carry on=yes', 'one=1 two=2'] },
  'xss-003': { match: ['javascript:alert(1)', '<a href="JaVa\tScRiPt:x">', 'vbscript:msgbox(1)', 'javascript: alert(1)'], pass: ['javascript: the good parts', 'I like javascript', 'myjavascript:x'] },
  'xss-004': { match: ['<iframe src=x>', '<svg>', '<base href=//x>', '<body>'], pass: ['a < b', '<3', '< svg', 'I <3 svg'] },
  'xss-005': { match: ['document.cookie', 'String.fromCharCode(88)', 'eval(x)', 'el.innerHTML=1'], pass: ['document the cookie recipe', 'evaluation'] },
  'xss-006': { match: ['alert(1)', "';alert('x')//", 'prompt`1`', 'confirm()'], pass: ['alert me', 'set an alert', 'prompt reply'] },
  'xss-007': { match: ['data:text/html,<b>', 'data:image/svg+xml;base64,AAA'], pass: ['data:image/png;base64,AAA', 'data: text'] },
  'xss-008': { match: ['"><b>x</b>', "'/><img>", '</textarea><x>', '--><p>'], pass: ['"quoted" > not', 'a > b'] },
  'xss-009': { match: ['<iframe srcdoc=x>', '<button formaction=x>'], pass: ['srcdoc', 'form action'] },
  'xss-101': { match: ['<a href="https://x.example">', '<p class=x>'], pass: ['<b>bold</b>', 'a < b = c'] },
  'xss-102': { match: ['<b>bold</b>', '<img>', '<a>'], pass: ['<3', '<brr'] },
  'xss-103': { match: ['width: expression(alert(1))', '{{constructor.constructor(1)}}', '${alert(1)}', 'behavior: url(x)'], pass: ['expression of interest', '{{name}}'] },
  'xss-104': { match: ['" onfoo="bar', "x onanything='y"], pass: ['on = off', 'one=1'] },
  'xss-201': { match: ['<x', '</', '<!', '<?'], pass: ['a < b', '<3'] },

  'trav-001': { match: ['../../etc', '..\\..\\x', '....//....//', '..;/..;/', '../..'], pass: ['../x', 'wait.../ok', 'a..b'] },
  'trav-002': { match: ['/a/../b', '/..', '/x/..;/y'], pass: ['/a/b', '/a...b/c', '/.well-known/x'] },
  'trav-003': { match: ['/etc/passwd', 'x=etc/shadow', '/proc/self/environ', '/home/anne/.ssh/id_rsa', '.bash_history'], pass: ['etc.', 'my passwd is', '/etc'] },
  'trav-004': { match: ['c:\\windows\\win.ini', 'windows/system32/x', ' boot.ini', 'c:/inetpub/x'], pass: ['windows 11', 'c:\\users\\anne\\documents\\x', 'https://microsoft.example/windows/'] },
  'trav-005': { match: ['php://filter/resource=x', 'file:///etc/x', 'phar://a/b', 'expect://id'], pass: ['https://example.com', 'file: report.pdf', 'mailto:x'] },
  'trav-006': { match: ['..%c0%af..', '%c0%ae%c0%ae/', '%25c0%25ae', '%e0%80%ae'], pass: ['%c3%a9', '%2e%2e'] },
  'trav-007': { match: ['/.git/config', '/.env', '=.htpasswd', '/wp-config.php.bak', '/config.php~'], pass: ['/.well-known/acme', '.environment', 'config.php'] },
  'trav-101': { match: ['../x', 'f=..\\x'], pass: ['..', 'wait...', 'a../b'] },
  'trav-102': { match: ['x%00.jpg', 'x%2500', 'a\u0000b'], pass: ['100%', '%0a'] },
  'trav-103': { match: ['/etc/x', '=/var/www/'], pass: ['/account/x', 'etc/x'] },
  'trav-201': { match: ['c:\\x', ' d:/y'], pass: ['size: l', '10:30'] },

  'cmd-001': { match: [';whoami', 'x | uname -a', 'a && wget x', '$(curl x)', '`nslookup x`', '127.0.0.1 & whoami', '| net user'], pass: ['whoami', 'use curl', 'x; curling club'] },
  'cmd-002': { match: [';id', 'x | cat /etc/passwd', '& ping -n 3 x', '; sleep 5', '$(id)', '`id`', '\nid', ';{cat,/x}', '; echo x > /dev/shm/y'], pass: ['bring racket & ID', 'racket; ID card', '| idle', 'x; cat lovers'] },
  'cmd-003': { match: ['cat${IFS}x', 'a$IFS$9b', '${PATH:0:1}'], pass: ['$5', '${name}'] },
  'cmd-004': { match: ['x;/bin/sh', ' /usr/bin/bash', 'cmd.exe /c dir', 'powershell -enc x', '/dev/tcp/1.2.3.4/80'], pass: ['/binary/sh', 'cmd /x'] },
  'cmd-005': { match: ['nc -e /bin/sh x', 'bash -i', '>& /dev/tcp', 'mkfifo /dev/shm/f', 'rm -rf /'], pass: ['nc court', 'bash party', 'rm -rf build'] },
  'cmd-006': { match: ['<?php echo 1', "system('id')", '() { :; }; echo', '${jndi:ldap://x}', '${${lower:j}ndi:x}'], pass: ['system (new)', 'php', '() {}'] },
  'cmd-101': { match: ['; cat lovers', '| echo chamber'], pass: ['cat lovers', 'a & id card'] },
  'cmd-102': { match: ['$(price)', '`court 3`'], pass: ['$5', 'it`s'] },
  'cmd-201': { match: ['a; b', 'x|y'], pass: ['a ; 1', 'a b'] },

  'scan-001': { match: ['sqlmap/1.7', 'Mozilla/5.00 (Nikto/2.1.6)', 'gobuster/3.6', 'w3af.org'], pass: ['Mozilla/5.0 (Windows NT 10.0) Chrome/124', 'Googlebot/2.1'] },
  'scan-101': { match: ['python-requests/2.31', 'curl/8.4.0', 'Go-http-client/1.1'], pass: ['Mozilla/5.0 curl/1'] },
  'scan-201': { match: ['okhttp/4.9', 'Twitterbot/1.0'], pass: ['Mozilla/5.0 (X11)'] },
}

t.test('catalogue invariants', async (t) => {
  t.equal(RULE_IDS.size, RULES.length, 'rule ids are unique')
  for (const r of RULES) {
    t.match(r.id, /^(sqli|xss|trav|cmd|scan)-\d{3}$/, `${r.id}: id format`)
    t.ok(THREAT_FAMILIES.includes(r.family), `${r.id}: family`)
    t.ok([1, 2, 3].includes(r.paranoia), `${r.id}: paranoia`)
    t.ok(r.score > 0 && r.score <= 10, `${r.id}: score`)
    t.ok(r.description.length > 5, `${r.id}: description`)
    t.notOk(r.pattern.global || r.pattern.sticky, `${r.id}: stateless regex`)
    // The hundreds digit of the id is the paranoia level minus one.
    t.equal(Number(r.id.slice(-3, -2)) + 1, r.paranoia, `${r.id}: id series matches paranoia`)
  }
  t.same(Object.keys(CASES).sort(), [...RULE_IDS].sort(), 'every rule has a case row and every row a rule')
})

for (const rule of RULES) {
  t.test(`${rule.id}: ${rule.description}`, async (t) => {
    const row = CASES[rule.id]!
    const place = placeFor(rule)
    t.ok(row.match.length > 0 && row.pass.length > 0, 'has positive and negative cases')
    for (const v of row.match) t.ok(ruleMatches(rule.id, v, place), `matches ${JSON.stringify(v)}`)
    for (const v of row.pass) t.notOk(ruleMatches(rule.id, v, place), `does not match ${JSON.stringify(v)}`)
  })
}

t.test('rule scope', async (t) => {
  t.notOk(ruleMatches('trav-002', '/a/../b', 'query'), 'path-only rule is not applied to parameters')
  t.notOk(ruleMatches('trav-101', '../x', 'path'), 'parameter-only rule is not applied to the path')
  t.notOk(ruleMatches('scan-001', 'sqlmap/1.7', 'query'), 'User-Agent rule is not applied to parameters')
  t.ok(ruleMatches('scan-001', 'sqlmap/1.7', 'user-agent'))
})
