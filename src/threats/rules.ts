/**
 * The rule catalogue: every detection rule, with its stable id, family, paranoia level and score.
 *
 * Contract:
 * - Ids never change meaning and are never reused; operators name them in exclusions.
 * - Paranoia 1 rules are meant to block in production: each is specific enough that real users do not trip it.
 *   Paranoia 2 and 3 widen the net at the cost of false positives.
 * - A score of 5 (the default threshold) means "this alone is an attack"; lower scores need company.
 * - Every regular expression is linear-time: no nested or adjacent quantifiers that can match the same text, and
 *   every open-ended span is bounded (`{0,200}`), so a 100 KB value costs at most a constant factor more.
 *
 * Kinds of rules:
 * - `text`: a regex over the normalised text (decoded, case-folded, whitespace squeezed).
 * - `wire`: a regex over the value as received, before decoding (to see encodings that decoding erases).
 * - `fingerprint`: a regex over the SQL token fingerprint (see `sqli/tokenizer.ts`), in the code context, the quoted
 *   contexts, or both. Anchored patterns (`^`) read the first tokens only; unanchored ones read the whole value.
 *   Each such pattern stands for the set of attack fingerprints it accepts.
 *
 * `scope` limits a rule to some places: `path` (the request path only), `input` (anything but the path),
 * `user-agent` (that header only). Default: everywhere.
 */
import type { Paranoia, ThreatFamily } from './types.js'

export type RuleScope = 'all' | 'path' | 'input' | 'user-agent'

interface RuleBase {
  readonly id: string
  readonly family: ThreatFamily
  readonly paranoia: Paranoia
  readonly score: number
  readonly description: string
  readonly scope?: RuleScope
}

export interface TextRule extends RuleBase {
  readonly kind: 'text' | 'wire'
  readonly pattern: RegExp
  /**
   * Characters of which the text must hold at least one for the pattern to be able to match (a pre-filter that
   * skips the regex). Absent: always run.
   */
  readonly needs?: string
}

export interface FingerprintRule extends RuleBase {
  readonly kind: 'fingerprint'
  readonly contexts: 'code' | 'quoted' | 'any'
  readonly pattern: RegExp
}

export type ThreatRule = TextRule | FingerprintRule

// ---------------------------------------------------------------------------------------------------------------
// SQL injection: patterns over token fingerprints. Classes: s string, 1 number, n bareword, v variable, k keyword,
// E statement, U union, B order/group by, having, limit, & logic, = comparison, o operator, f function call,
// x dangerous function call, W waitfor, ( ) , ; punctuation, c comment, ? other, $ end.
// In a quoted context the first `s` is the application's own string, closed by the attacker's quote. A real
// injection there must end in a comment or in a string the application's closing quote will close, which is why
// "quote, or, number, end" (`Côte d'Or 21`) is not an attack but "quote, or, string" (`' or '1`) is.
// ---------------------------------------------------------------------------------------------------------------
const SQLI: readonly FingerprintRule[] = [
  {
    id: 'sqli-001', family: 'sqli', paranoia: 1, score: 5, kind: 'fingerprint', contexts: 'quoted',
    description: 'string break followed by a boolean condition (\' or 1=1, \' and sleep(…), \' or \'a\'=\'a)',
    pattern: /^s\)*&\(*(?:[1sv]\)*(?:[=o]\(*[1snvfxE(]|;?c)|s\)*\$|n\)*[=o]\(*[1svfx]|[fxE])/,
  },
  {
    id: 'sqli-002', family: 'sqli', paranoia: 1, score: 5, kind: 'fingerprint', contexts: 'code',
    description: 'number followed by a boolean condition (1 or 1=1, 1) and (select …)',
    pattern: /^1\)*&\(*(?:[1sv]\)*(?:[=o]\(*[1snvfxE(]|c)|n\)*=\(*[1svfx]|[fxE])/,
  },
  {
    id: 'sqli-003', family: 'sqli', paranoia: 1, score: 5, kind: 'fingerprint', contexts: 'any',
    description: 'union select',
    pattern: /U\(*E/,
  },
  {
    id: 'sqli-004', family: 'sqli', paranoia: 1, score: 5, kind: 'fingerprint', contexts: 'any',
    description: 'stacked query after a string or number (\'; drop table …, 1; exec …)',
    pattern: /^[s1]\)*;\(*[EW]/,
  },
  {
    id: 'sqli-005', family: 'sqli', paranoia: 1, score: 5, kind: 'fingerprint', contexts: 'quoted',
    description: 'string break followed by a comment (admin\'--, admin\')#)',
    pattern: /^s\)*;?c/,
  },
  {
    id: 'sqli-006', family: 'sqli', paranoia: 1, score: 5, kind: 'fingerprint', contexts: 'any',
    description: 'call of a function used for delays, file access or error-based leaks (sleep, benchmark, extractvalue…)',
    pattern: /(?:^|[^n])x\(*[1svEfx)]/,
  },
  {
    id: 'sqli-007', family: 'sqli', paranoia: 1, score: 5, kind: 'fingerprint', contexts: 'any',
    description: 'waitfor delay',
    pattern: /W[s1]/,
  },
  {
    id: 'sqli-008', family: 'sqli', paranoia: 1, score: 5, kind: 'fingerprint', contexts: 'quoted',
    description: 'string break followed by a subquery, a function call, or order/group by',
    pattern: /^s\)*(?:[=o&]\(*(?:E|[fx]\()|B\(*[1n])/,
  },
  {
    id: 'sqli-009', family: 'sqli', paranoia: 1, score: 5, kind: 'fingerprint', contexts: 'code',
    description: 'number followed by order by / group by / limit with a number (column enumeration)',
    pattern: /^1\)*B\(*1/,
  },
  {
    id: 'sqli-010', family: 'sqli', paranoia: 1, score: 5, kind: 'fingerprint', contexts: 'quoted',
    description: 'string break followed by a comparison (1\'=\'1, x\'=\'x)',
    pattern: /^s\)*=\(*[1sv]/,
  },
  {
    id: 'sqli-011', family: 'sqli', paranoia: 1, score: 5, kind: 'fingerprint', contexts: 'code',
    description: 'word followed by a literal tautology (admin or 1=1)',
    pattern: /^n\)*&\(*[1s]\)*=\(*[1s]/,
  },
  {
    id: 'sqli-012', family: 'sqli', paranoia: 1, score: 5, kind: 'fingerprint', contexts: 'code',
    description: 'number followed by an operator and a subquery (1+(select …))',
    pattern: /^1\)*[o=]\(*E/,
  },
  {
    id: 'sqli-101', family: 'sqli', paranoia: 2, score: 5, kind: 'fingerprint', contexts: 'any',
    description: 'literal tautology anywhere (… or 1=1)',
    pattern: /&\(*[1s]\)*=\(*[1s]/,
  },
  {
    id: 'sqli-102', family: 'sqli', paranoia: 2, score: 5, kind: 'fingerprint', contexts: 'any',
    description: 'stacked statement anywhere (…; select *, …; drop table)',
    pattern: /;\(*(?:E(?:[kvfx1(]|ok)|W)/,
  },
  {
    id: 'sqli-103', family: 'sqli', paranoia: 2, score: 5, kind: 'fingerprint', contexts: 'quoted',
    description: 'string break followed by a statement keyword',
    pattern: /^s\)*E/,
  },
  {
    id: 'sqli-104', family: 'sqli', paranoia: 2, score: 3, kind: 'fingerprint', contexts: 'quoted',
    description: 'string break followed by a logical operator and a word',
    pattern: /^s\)*&\(*[n1]/,
  },
  {
    id: 'sqli-105', family: 'sqli', paranoia: 2, score: 3, kind: 'fingerprint', contexts: 'any',
    description: 'logical operator followed by a function call',
    pattern: /&\(*[fx]\(/,
  },
  {
    id: 'sqli-201', family: 'sqli', paranoia: 3, score: 3, kind: 'fingerprint', contexts: 'quoted',
    description: 'string break followed by any SQL operator or clause',
    pattern: /^s\)*[&=o;BU]/,
  },
  {
    id: 'sqli-202', family: 'sqli', paranoia: 3, score: 3, kind: 'fingerprint', contexts: 'any',
    description: 'select … from',
    pattern: /E[n1v,o(]{0,6}k/,
  },
  {
    id: 'sqli-203', family: 'sqli', paranoia: 3, score: 2, kind: 'fingerprint', contexts: 'code',
    description: 'comment right after the first token (1--, admin#)',
    pattern: /^[1n]\)*c/,
  },
]

// ---------------------------------------------------------------------------------------------------------------
// Cross-site scripting. HTML only opens a tag when `<` is directly followed by a letter, `/` or `!`, so
// "a < b" and "I <3 tennis" never match tag rules.
// ---------------------------------------------------------------------------------------------------------------
const EVENTS = [
  'abort', 'activate', 'afterprint', 'afterscriptexecute', 'animationcancel', 'animationend', 'animationiteration',
  'animationstart', 'auxclick', 'beforeactivate', 'beforecopy', 'beforecut', 'beforedeactivate', 'beforeinput',
  'beforepaste', 'beforeprint', 'beforescriptexecute', 'beforetoggle', 'beforeunload', 'begin', 'blur', 'bounce',
  'canplay', 'canplaythrough', 'change', 'click', 'close', 'contextmenu', 'copy', 'cuechange', 'cut', 'dblclick',
  'deactivate', 'drag', 'dragend', 'dragenter', 'dragleave', 'dragover', 'dragstart', 'drop', 'durationchange',
  'end', 'ended', 'error', 'finish', 'focus', 'focusin', 'focusout', 'formdata', 'fullscreenchange', 'hashchange',
  'input', 'invalid', 'keydown', 'keypress', 'keyup', 'load', 'loadeddata', 'loadedmetadata', 'loadend',
  'loadstart', 'message', 'mousedown', 'mouseenter', 'mouseleave', 'mousemove', 'mouseout', 'mouseover', 'mouseup',
  'mousewheel', 'offline', 'online', 'pagehide', 'pageshow', 'paste', 'pause', 'play', 'playing', 'pointercancel',
  'pointerdown', 'pointerenter', 'pointerleave', 'pointermove', 'pointerout', 'pointerover', 'pointerrawupdate',
  'pointerup', 'popstate', 'progress', 'ratechange', 'readystatechange', 'repeat', 'reset', 'resize', 'scroll',
  'scrollend', 'search', 'securitypolicyviolation', 'seeked', 'seeking', 'select', 'selectionchange',
  'selectstart', 'show', 'stalled', 'start', 'storage', 'submit', 'suspend', 'timeupdate', 'toggle', 'touchcancel',
  'touchend', 'touchmove', 'touchstart', 'transitioncancel', 'transitionend', 'transitionrun', 'transitionstart',
  'unhandledrejection', 'unload', 'volumechange', 'waiting', 'webkitanimationend', 'webkitanimationiteration',
  'webkitanimationstart', 'webkittransitionend', 'wheel',
].join('|')

const XSS: readonly TextRule[] = [
  {
    id: 'xss-001', family: 'xss', paranoia: 1, score: 5, kind: 'text', needs: '<',
    description: 'script tag',
    pattern: /<\/?script\b/,
  },
  {
    id: 'xss-002', family: 'xss', paranoia: 1, score: 5, kind: 'text', needs: '=',
    description: 'event handler attribute (onerror=, onload=, …)',
    pattern: new RegExp(`(?:^|[\\s"'\`/;>+,])on(?:${EVENTS})\\s*=`),
  },
  {
    id: 'xss-003', family: 'xss', paranoia: 1, score: 5, kind: 'text', needs: ':',
    description: 'javascript:, vbscript: or livescript: URL',
    pattern: /(?:^|[^a-z0-9])(?:j\s?a\s?v\s?a|v\s?b|l\s?i\s?v\s?e)\s?s\s?c\s?r\s?i\s?p\s?t\s?:(?:\S|\s?[a-z_$][\w$.]{0,40}\s?[(`=])/,
  },
  {
    id: 'xss-004', family: 'xss', paranoia: 1, score: 5, kind: 'text', needs: '<',
    description: 'tag that runs or embeds active content (iframe, svg, object, embed, base, meta, style, …)',
    pattern: /<(?:iframe|frame|frameset|object|embed|applet|svg|math|base|meta|link|style|xml|import|isindex|template|portal|xss|animate|bgsound|layer|ilayer|marquee|keygen|body|form|details|video|audio|image|noscript|plaintext|xmp|listing|html|title|textarea|handler|listener|set)\b/,
  },
  {
    id: 'xss-005', family: 'xss', paranoia: 1, score: 5, kind: 'text', needs: '.(=',
    description: 'script sink (document.cookie, String.fromCharCode, eval(…), innerHTML=)',
    pattern: /\bdocument\s?\.\s?(?:cookie|domain|write(?:ln)?|location)\b|\bwindow\s?\.\s?(?:location|name|open)\b|\bstring\s?\.\s?fromcharcode\b|\b(?:eval|settimeout|setinterval|atob|execscript)\s?\(|\.innerhtml\s?=|\bconstructor\s?\(/,
  },
  {
    id: 'xss-006', family: 'xss', paranoia: 1, score: 5, kind: 'text', needs: '(`',
    description: 'alert/prompt/confirm probe call',
    pattern: /(?:^|[^a-z0-9_$.])(?:alert|prompt|confirm)\s?(?:\(\s?(?:[\d'"`/)]|document|window|this|self|top)|`)/,
  },
  {
    id: 'xss-007', family: 'xss', paranoia: 1, score: 5, kind: 'text', needs: ':',
    description: 'data: URL with active content',
    pattern: /\bdata\s?:\s?(?:text\/html|image\/svg\+xml|text\/xml|application\/(?:xhtml\+xml|x-javascript|javascript|ecmascript))/,
  },
  {
    id: 'xss-008', family: 'xss', paranoia: 1, score: 5, kind: 'text', needs: '<',
    description: 'markup breakout: attribute close then tag, or a raw-text element closed',
    pattern: /["'`]\s?\/?>\s?<[a-z!/]|<\/(?:title|textarea|style|script|noscript|xmp|iframe|template|noembed|noframes)\b|-->\s?<[a-z!/]/,
  },
  {
    id: 'xss-009', family: 'xss', paranoia: 1, score: 5, kind: 'text', needs: '=',
    description: 'attributes that load or run content (srcdoc=, formaction=, xlink:href=)',
    pattern: /\b(?:srcdoc|formaction|xlink:href|dynsrc|lowsrc)\s?=/,
  },
  {
    id: 'xss-101', family: 'xss', paranoia: 2, score: 3, kind: 'text', needs: '<',
    description: 'HTML tag with an attribute',
    pattern: /<[a-z][a-z0-9-]{0,20}[\s/][^<>=]{0,200}=/,
  },
  {
    id: 'xss-102', family: 'xss', paranoia: 2, score: 3, kind: 'text', needs: '<',
    description: 'common HTML tag (img, a, div, input, …)',
    pattern: /<(?:img|a|div|span|p|b|i|u|s|input|button|select|option|table|td|tr|font|center|h[1-6]|ul|li|br|hr|em|strong)\b/,
  },
  {
    id: 'xss-103', family: 'xss', paranoia: 2, score: 5, kind: 'text', needs: '(:@{-$',
    description: 'CSS expression, binding or template injection',
    pattern: /expression\s?\(|-moz-binding|\bbehavior\s?:|@import\b|\{\{[^{}]{0,100}(?:constructor|\$on|\$eval|alert|window|document)|\$\{\s?(?:alert|prompt|confirm|document|window)/,
  },
  {
    id: 'xss-104', family: 'xss', paranoia: 2, score: 3, kind: 'text', needs: '=',
    description: 'any on…= attribute',
    pattern: /(?:^|[\s"'`/;])on[a-z]{3,30}\s?=\s?["'`]?[a-z_$]/,
  },
  {
    id: 'xss-201', family: 'xss', paranoia: 3, score: 2, kind: 'text', needs: '<',
    description: 'anything that opens a tag, comment or processing instruction',
    pattern: /<[a-z!/?]/,
  },
]

// ---------------------------------------------------------------------------------------------------------------
// Path traversal and local file inclusion.
// ---------------------------------------------------------------------------------------------------------------
const TRAVERSAL: readonly TextRule[] = [
  {
    id: 'trav-001', family: 'traversal', paranoia: 1, score: 5, kind: 'text', needs: '.',
    description: 'two or more ../ steps (also ..\\, ....//, ..;/)',
    pattern: /\.{2,64}[/\\;]{1,8}\.{2,64}(?:[/\\;]|$)/,
  },
  {
    id: 'trav-002', family: 'traversal', paranoia: 1, score: 5, kind: 'text', needs: '.', scope: 'path',
    description: 'dot-dot segment in the request path (browsers never send one)',
    pattern: /(?:^|[/\\])\.{2,64}(?:[/\\;]|$)/,
  },
  {
    id: 'trav-003', family: 'traversal', paranoia: 1, score: 5, kind: 'text', needs: '/\\.',
    description: 'Unix system file (/etc/passwd, /proc/self/environ, ~/.ssh/…)',
    pattern: /(?:^|[/\\=:\s'"])(?:etc[/\\]{1,8}(?:passwd|shadow|group|hosts|issue|motd|crontab|sudoers|fstab|hostname|mtab|profile|environment|resolv\.conf|ssh[/\\]|apache2?[/\\]|nginx[/\\]|httpd[/\\]|mysql[/\\]|php[\d.]{0,5}[/\\]|init\.d[/\\])|proc[/\\]{1,8}(?:self|\d{1,7}|version|cmdline|mounts|net)(?:[/\\]|$)|var[/\\]{1,8}(?:log|mail|spool|lib[/\\]{1,8}mysql)[/\\]|home[/\\]{1,8}[^/\\\s]{1,32}[/\\]{1,8}\.(?:ssh|bash_history)|usr[/\\]{1,8}local[/\\]{1,8}(?:apache|etc)[/\\]|\.ssh[/\\]{1,8}(?:id_[a-z0-9]{1,10}|authorized_keys|known_hosts)|\.(?:bash|mysql|psql|zsh)_history)/,
  },
  {
    id: 'trav-004', family: 'traversal', paranoia: 1, score: 5, kind: 'text', needs: '/\\:.',
    description: 'Windows system file (win.ini, boot.ini, system32, c:\\windows)',
    pattern: /(?:^|[/\\=:\s'"])(?:(?:windows|winnt)[/\\]{1,8}(?:win\.ini|system\.ini|system32|repair|debug|panther)|boot\.ini|inetpub[/\\]{1,8}wwwroot|system32[/\\]{1,8}(?:config|drivers|inetsrv|cmd\.exe)|web\.config\b)|\b[a-z]:[/\\]{1,8}(?:windows|winnt|boot\.ini|inetpub|users[/\\]{1,8}[^/\\\s]{1,32}[/\\]{1,8}(?:appdata|ntuser|desktop))/,
  },
  {
    id: 'trav-005', family: 'traversal', paranoia: 1, score: 5, kind: 'text', needs: ':',
    description: 'stream wrapper or local scheme (php://filter, file://, phar://, expect://, data://)',
    pattern: /(?:^|[^a-z0-9])(?:php|file|zip|phar|expect|glob|data|zlib|compress\.zlib|compress\.bzip2|ogg|rar|ssh2(?:\.[a-z]{1,10})?|jar|netdoc|gopher|dict|tftp|ldap):\/\//,
  },
  {
    id: 'trav-006', family: 'traversal', paranoia: 1, score: 5, kind: 'wire',
    description: 'overlong UTF-8 encoding of . / or \\ (%c0%ae, %c0%af, %e0%80%ae)',
    pattern: /%(?:25){0,3}c0%(?:25){0,3}(?:ae|af|2e|2f|5c|9v|qf)|%(?:25){0,3}c1%(?:25){0,3}(?:1c|9c|af|pc)|%(?:25){0,3}e0%(?:25){0,3}80%(?:25){0,3}(?:ae|af)/i,
  },
  {
    id: 'trav-007', family: 'traversal', paranoia: 1, score: 5, kind: 'text', needs: '.',
    description: 'probe for a hidden or backup file (.git/, .env, .htpasswd, wp-config.php.bak)',
    pattern: /(?:^|[/\\=])\.(?:git|svn|hg|bzr|env|htaccess|htpasswd|ds_store|aws|ssh|bash_history|npmrc|docker|kube)(?:[/\\.]|$)|(?:^|[/\\=])(?:wp-config|config|settings|configuration|database|localsettings)\.(?:php|inc|yml|xml)(?:\.(?:bak|old|orig|save|swp|txt|dist)|~)/,
  },
  {
    id: 'trav-101', family: 'traversal', paranoia: 2, score: 3, kind: 'text', needs: '.', scope: 'input',
    description: 'one ../ step in a parameter',
    pattern: /(?:^|[/\\=])\.{2,64}[/\\]/,
  },
  {
    id: 'trav-102', family: 'traversal', paranoia: 2, score: 3, kind: 'wire',
    description: 'NUL byte (truncates file names in old runtimes)',
    pattern: /%(?:25){0,3}00|\x00/,
  },
  {
    id: 'trav-103', family: 'traversal', paranoia: 2, score: 3, kind: 'text', needs: '/', scope: 'input',
    description: 'absolute path to a system directory in a parameter',
    pattern: /(?:^|[=\s'"])\/(?:etc|proc|var|usr|bin|sbin|dev|sys|boot|root|tmp|opt)\//,
  },
  {
    id: 'trav-201', family: 'traversal', paranoia: 3, score: 2, kind: 'text', needs: ':', scope: 'input',
    description: 'drive-letter path in a parameter',
    pattern: /(?:^|[\s='"])[a-z]:[/\\]/,
  },
]

// ---------------------------------------------------------------------------------------------------------------
// OS command injection. A command counts only after a shell separator (; | & newline ` $( ). Commands that are
// also English words (id, cat, ping, echo, sleep…) count at paranoia 1 only when they look like a command line:
// at the end of the value, before another separator, or with an option, a path, a number or a variable.
// ---------------------------------------------------------------------------------------------------------------
const STRONG_COMMANDS =
  'whoami|uname|ifconfig|ipconfig|nslookup|netstat|ncat|netcat|wget|curl|powershell|pwsh|systeminfo|tasklist|' +
  'certutil|bitsadmin|busybox|mkfifo|socat|telnet|wmic|regsvr32|mshta|rundll32|cscript|wscript|crontab|useradd|' +
  'nohup|getent|xterm|chmod|chown|passwd|ping6|traceroute|tracert|net\\s(?:user|localgroup|view|share|use|session)'
const WEAK_COMMANDS =
  'id|ls|dir|cat|type|head|tail|echo|printf|ping|sleep|timeout|nc|sh|bash|zsh|ksh|csh|env|ps|kill|pwd|cd|cp|mv|rm|' +
  'touch|find|grep|awk|sed|sort|who|uptime|ruby|perl|python[23]?|php|node|lua|net|netsh|reg|sc|schtasks|host|dig|' +
  'arp|route|mount|df|du|history|export|eval|exec|source|xargs|tee|tar|gzip|dd|file|stat|su|sudo|cmd|del|ren|' +
  'attrib|icacls|hostname|base64|xxd|od|nmap|ipconfig|whoami|uname|curl|wget|nslookup'
const SEPARATOR = '(?:[;|&\\n`]|\\$\\()'
// Before a command that is also a word, a lone `&` between spaces is English ("racket & ID"); attackers write
// `&&`, `x&id` or another separator.
const WORD_SEPARATOR = '(?:[;|\\n`]|&&|(?<!\\s)&|\\$\\()'
const COMMAND_TAIL =
  '(?:$|\\s?[;|&`)<>\\n}]|\\s(?:-{1,2}[a-z0-9]|[/~.$\\\\\'"]|\\d|[a-z]:[/\\\\]|%[a-z]|[^\\s;|&<>]{1,40}\\s?>))'

const COMMAND: readonly TextRule[] = [
  {
    id: 'cmd-001', family: 'command', paranoia: 1, score: 5, kind: 'text', needs: ';|&\n`$',
    description: 'shell separator followed by a command that is never an ordinary word (whoami, uname, wget, …)',
    pattern: new RegExp(`${SEPARATOR}\\s?\\{?(?:sudo\\s)?(?:${STRONG_COMMANDS})\\b`),
  },
  {
    id: 'cmd-002', family: 'command', paranoia: 1, score: 5, kind: 'text', needs: ';|&\n`$',
    description: 'shell separator followed by a command line (; id, | cat /etc/passwd, & ping -n 3 …)',
    pattern: new RegExp(`${WORD_SEPARATOR}\\s?\\{?(?:sudo\\s)?(?:${WEAK_COMMANDS})(?:${COMMAND_TAIL}|,)`),
  },
  {
    id: 'cmd-003', family: 'command', paranoia: 1, score: 5, kind: 'text', needs: '$',
    description: 'shell expansion tricks (${IFS}, $IFS$9, ${PATH:0:1})',
    pattern: /\$\{?ifs\b|\$\{(?:path|home|pwd|shell|lf):[\d-]|\$'\\[x0-7]/,
  },
  {
    id: 'cmd-004', family: 'command', paranoia: 1, score: 5, kind: 'text', needs: '/-',
    description: 'shell or interpreter invoked by path or flag (/bin/sh, cmd /c, powershell -e, /dev/tcp/)',
    pattern: /(?:^|[\s;|&`'"(=<>$])\/(?:usr\/)?(?:local\/)?s?bin\/(?:ba|z|k|c|tc|da|fi)?sh\b|\/bin\/(?:cat|ls|id|nc|busybox|echo|ping|uname|whoami)\b|\bcmd(?:\.exe)?\s?\/[ck]\b|\bpowershell(?:\.exe)?\s-|\/dev\/(?:tcp|udp)\//,
  },
  {
    id: 'cmd-005', family: 'command', paranoia: 1, score: 5, kind: 'text',
    description: 'reverse-shell idioms (nc -e, bash -i, >& /dev/…, mkfifo)',
    pattern: /\bnc(?:at)?(?:\.exe)?\s(?:-[a-z]{0,5}[ec]\b|\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\s\d{2,5})|\bbash\s-[ci]\b|\bsh\s-c\b|>\s?&\s?\/dev\/|\bmkfifo\s|\brm\s-[rf]{1,2}\s\//,
  },
  {
    id: 'cmd-006', family: 'command', paranoia: 1, score: 5, kind: 'text', needs: '<($',
    description: 'code execution through an interpreter (<?php, system(…), Shellshock, ${jndi:…})',
    pattern: /<\?php|\b(?:system|shell_exec|passthru|popen|proc_open|pcntl_exec|exec)\s?\(\s?['"$`]|\(\)\s?\{\s?(?::|[a-z_]{1,20})\s?;\s?\}\s?;|\$\{\s?(?:jndi|\$\{|(?:lower|upper|env|sys|::-)[^}]{0,30}\})/,
  },
  {
    id: 'cmd-101', family: 'command', paranoia: 2, score: 3, kind: 'text', needs: ';|&\n`$',
    description: 'shell separator followed by any command word',
    pattern: new RegExp(`${WORD_SEPARATOR}\\s?(?:${WEAK_COMMANDS})\\b`),
  },
  {
    id: 'cmd-102', family: 'command', paranoia: 2, score: 3, kind: 'text', needs: '$`',
    description: 'command substitution ($(…) or backticks)',
    pattern: /\$\(\s?[a-z]|`[a-z][^`\n]{0,80}`/,
  },
  {
    id: 'cmd-201', family: 'command', paranoia: 3, score: 2, kind: 'text', needs: ';|`',
    description: 'shell metacharacter followed by a word',
    pattern: /[;|`]\s?[a-z]/,
  },
]

// ---------------------------------------------------------------------------------------------------------------
// Scanners and attack tools announcing themselves in User-Agent.
// ---------------------------------------------------------------------------------------------------------------
const SCANNER: readonly TextRule[] = [
  {
    id: 'scan-001', family: 'scanner', paranoia: 1, score: 5, kind: 'text', scope: 'user-agent',
    description: 'User-Agent of a known attack or vulnerability scanner',
    pattern: /\b(?:sqlmap|nikto|nuclei|masscan|zgrab|wpscan|acunetix|dirbuster|gobuster|feroxbuster|ffuf|wfuzz|nessus|openvas|arachni|w3af|havij|netsparker|appscan|skipfish|whatweb|commix|jaeles|nmap|hydra|zmeu|morfeus|fimap|sqlninja|bbqsql|paros|webinspect|xsstrike|joomscan|droopescan|cmsmap|zmap|jorgee|l9explore|l9tcpid|interactsh|burpcollaborator|brutus|dirb|webshag|grendel-scan|uniscan|wapiti|zaproxy|owasp zap|dalfox|tplmap|ghauri|bsqlbf|sqlsus|fuzz faster u fool|struts-pwn|nessus)\b/,
  },
  {
    id: 'scan-101', family: 'scanner', paranoia: 2, score: 3, kind: 'text', scope: 'user-agent',
    description: 'User-Agent of a scripting library rather than a browser',
    pattern: /^(?:python-requests|python-urllib|python-httpx|aiohttp|go-http-client|libwww-perl|lwp::simple|okhttp|apache-httpclient|scrapy|node-fetch|axios|mechanize|java\/|winhttp|wget\/|curl\/)/,
  },
  {
    id: 'scan-201', family: 'scanner', paranoia: 3, score: 2, kind: 'text', scope: 'user-agent',
    description: 'User-Agent without the Mozilla/ prefix every browser sends',
    pattern: /^(?!mozilla\/)[^\s]/,
  },
]

export const RULES: readonly ThreatRule[] = Object.freeze([...SQLI, ...XSS, ...TRAVERSAL, ...COMMAND, ...SCANNER])

export const RULE_IDS: ReadonlySet<string> = new Set(RULES.map((r) => r.id))
