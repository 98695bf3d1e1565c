/**
 * SQL tokenizer and fingerprint folding for injection detection.
 *
 * The text of one value is read the way a SQL parser would read it, as if pasted into a query at one of three
 * places: as code (`… WHERE id = <value>`), or inside a single- or double-quoted string literal
 * (`… = '<value>'`). In a quoted context everything up to the first matching quote is the string the application
 * opened; what follows is what an attacker would have the database execute.
 *
 * Each token becomes one character of a fingerprint (see `TOKEN_CLASSES`). Folding keeps fingerprints short and
 * hard to pad: comments between tokens are dropped (a comment stays only as the last token), MySQL's executable
 * `/*!…*\/` comments are unwrapped, unary operators vanish, runs of barewords, strings, operators and parentheses
 * merge, `union all`, `order by`, `group by` and `waitfor delay` become single tokens.
 *
 * Contract: `fingerprint(text, quote, sink)` calls `sink(chunk, first)` one or more times. A chunk is the folded
 * fingerprint of up to `CHUNK_TOKENS` tokens; the last chunk ends with `$`. Consecutive chunks overlap by
 * `CHUNK_OVERLAP` tokens so a short pattern never falls between two. Input is expected case-folded
 * (`normalizeValue`). Linear time; no regular expressions; one module-level buffer, so calls must not nest.
 */

/** One character per token class. */
export const TOKEN_CLASSES = {
  string: 's',
  number: '1', // also true, false, null
  bareword: 'n', // identifiers, unknown words, unknown function names
  variable: 'v', // @x, @@version
  keyword: 'k', // from, where, table, into, …
  statement: 'E', // select, insert, update, delete, drop, exec, …
  union: 'U', // union [all|distinct]
  clause: 'B', // order by, group by, having, limit
  logic: '&', // and, or, xor, &&, ||
  compare: '=', // = <> != < > <= >= <=>
  operator: 'o', // + - * / % | & ^ ~ ! like, in, is, between, not, div, mod, :=
  function: 'f', // a known SQL function followed by (
  danger: 'x', // a function attackers use to delay, read files or leak data, followed by (
  waitfor: 'W', // waitfor [delay|time]
  open: '(',
  close: ')',
  comma: ',',
  semicolon: ';',
  comment: 'c',
  other: '?',
  end: '$',
} as const

export type QuoteContext = 0 | 39 | 34

const C_S = 115, C_1 = 49, C_N = 110, C_V = 118, C_K = 107, C_E = 69, C_U = 85, C_B = 66, C_AND = 38, C_EQ = 61
const C_O = 111, C_F = 102, C_X = 120, C_W = 87, C_OPEN = 40, C_CLOSE = 41, C_COMMA = 44, C_SEMI = 59, C_C = 99
const C_OTHER = 63, C_END = 36

const WORDS = new Map<string, number>()
function words(cls: number, list: string): void {
  for (const w of list.split(/\s+/)) if (w) WORDS.set(w, cls)
}
words(C_E, `select insert update delete drop create alter truncate exec execute declare shutdown grant revoke rename
  merge call handler replace pragma attach copy backup restore`)
words(C_K, `from where into values set table tables as on join inner outer cross natural straight_join case when then
  else end exists top all distinct any some outfile dumpfile database databases schema delay dual offset fetch by
  asc desc with using returning begin commit rollback procedure trigger view index column columns user users
  information_schema sysobjects syscolumns master`)
words(C_AND, 'and or xor')
words(C_O, 'not like rlike ilike regexp similar in is between div mod sounds collate escape')
words(C_1, 'true false null unknown')
words(C_B, 'having limit')

/** Known SQL functions (any dialect). Only a word followed by `(` is a function. */
const FUNCTIONS = new Set(`char chr nchar concat concat_ws group_concat string_agg array_agg substring substr mid left right
  ascii ord unicode hex unhex bin oct conv length len char_length datalength bit_length count sum min max avg cast
  convert if iif ifnull isnull coalesce nullif lower upper lcase ucase replace reverse trim ltrim rtrim lpad rpad
  space repeat md5 sha sha1 sha2 rand random floor ceil ceiling round abs now sysdate curdate curtime instr locate
  position strcmp make_set elt field find_in_set quotename str stuff patindex charindex to_char to_number
  xmltype json_extract row least greatest schema_name object_id object_name table_name column_name db_id
  has_dbaccess is_member is_srvrolemember user_id suser_sname serverproperty current_database current_schema
  inet_server_addr pg_backend_pid sqlite_master upper exists insert ascii_str cot log ln exp pi pow power
  sqrt sin cos tan crc32 uuid last_insert_id row_count found_rows connection_id charset collation coercibility
  decode encode encrypt aes_encrypt aes_decrypt compress uncompress from_base64 to_base64 soundex difference
  regexp_like regexp_substr regexp_replace generate_series unnest string_to_array array_to_string octet_length`
  .split(/\s+/).filter(Boolean))

/** Functions whose only common use in a request is an attack: delays, file access, error-based leaks, metadata. */
const DANGER = new Set(`sleep benchmark pg_sleep load_file extractvalue updatexml name_const geometrycollection multipoint
  polygon linestring multilinestring multipolygon gtid_subset gtid_subtract randomblob sys_eval sys_exec xp_cmdshell
  xp_dirtree xp_fileexist xp_regread pg_read_file pg_ls_dir lo_import lo_export dbms_pipe.receive_message
  dbms_lock.sleep utl_inaddr.get_host_address utl_inaddr.get_host_name utl_http.request dbms_xmlgen.getxml
  ctxsys.drithsx.sn sqlite_version json_keys`.split(/\s+/).filter(Boolean))

/**
 * Metadata functions that are also ordinary words ("Version (2.1)", "User (admin)"): dangerous only when the
 * parenthesis follows at once, as it must for MySQL built-ins.
 */
const DANGER_ADJACENT = new Set(`version database user current_user system_user session_user db_name user_name host_name
  schema`.split(/\s+/).filter(Boolean))

const UNARY_PRECEDES = new Uint8Array(128)
for (const c of [0, C_O, C_EQ, C_AND, C_OPEN, C_COMMA, C_K, C_E, C_B, C_U, C_SEMI, C_W]) UNARY_PRECEDES[c] = 1
const MERGES = new Uint8Array(128)
for (const c of [C_N, C_S, C_OPEN, C_CLOSE, C_O, C_AND, C_EQ]) MERGES[c] = 1

// Character classes for the scanner.
const WORD_START = new Uint8Array(128)
const WORD_PART = new Uint8Array(128)
for (let c = 97; c <= 122; c++) WORD_START[c] = WORD_PART[c] = 1
for (let c = 65; c <= 90; c++) WORD_START[c] = WORD_PART[c] = 1
WORD_START[95] = WORD_PART[95] = 1
for (let c = 48; c <= 57; c++) WORD_PART[c] = 1
WORD_PART[36] = 1 // $

function isWordStart(c: number): boolean {
  return c >= 128 ? c !== 0x2028 && c !== 0x2029 : WORD_START[c] === 1
}
function isWordPart(c: number): boolean {
  return c >= 128 ? c !== 0x2028 && c !== 0x2029 : WORD_PART[c] === 1
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}
function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 160
}

export const CHUNK_TOKENS = 2048
export const CHUNK_OVERLAP = 16

export type ChunkSink = (chunk: string, first: boolean) => void

const buf = new Uint8Array(CHUNK_TOKENS + 1)
const decoder = new TextDecoder('latin1')

/** Tokenizes `text` as SQL in the given quote context and streams the folded fingerprint to `sink`. */
export function fingerprint(text: string, quote: QuoteContext, sink: ChunkSink): void {
  let len = 0
  let first = true
  const n = text.length
  let i = 0

  const flush = (final: boolean): void => {
    if (final) buf[len++] = C_END
    // Short fingerprints (the usual case) are cheaper to build directly than through the decoder.
    const chunk = len <= 256 ? String.fromCharCode.apply(null, buf.subarray(0, len) as unknown as number[]) : decoder.decode(buf.subarray(0, len))
    sink(chunk, first)
    first = false
    if (!final) {
      buf.copyWithin(0, len - CHUNK_OVERLAP, len)
      len = CHUNK_OVERLAP
    }
  }

  const emit = (c: number, unary = false): void => {
    let last = len > 0 ? buf[len - 1]! : 0
    if (c === C_C) {
      if (last === C_C) return
    } else if (last === C_C) {
      // A comment followed by more code hides nothing: drop it (`un/**/ion`-style padding, `#…\n` line breaks).
      len--
      last = len > 0 ? buf[len - 1]! : 0
    }
    if (unary && UNARY_PRECEDES[last] === 1) return
    if (c === last && MERGES[c] === 1) return
    if (len === CHUNK_TOKENS) flush(false)
    buf[len++] = c
  }

  if (quote !== 0) {
    const q = text.indexOf(quote === 39 ? "'" : '"')
    if (q === -1) {
      emit(C_S)
      flush(true)
      return
    }
    emit(C_S)
    i = q + 1
  }

  let versioned = 0
  while (i < n) {
    const c = text.charCodeAt(i)
    if (isSpace(c)) {
      i++
      continue
    }
    if (c === 39 || c === 34) {
      i = skipString(text, i + 1, c)
      emit(C_S)
      continue
    }
    if (c === 96) {
      // `identifier`
      const end = text.indexOf('`', i + 1)
      i = end === -1 ? n : end + 1
      emit(C_N)
      continue
    }
    if (isDigit(c) || (c === 46 && isDigit(text.charCodeAt(i + 1)))) {
      const [end, cls] = scanNumber(text, i)
      i = end
      emit(cls)
      continue
    }
    if (isWordStart(c)) {
      let end = i + 1
      while (end < n) {
        const d = text.charCodeAt(end)
        if (isWordPart(d)) end++
        else if (d === 46 && end + 1 < n && (isWordStart(text.charCodeAt(end + 1)) || text.charCodeAt(end + 1) === 46)) end++
        else break
      }
      const word = text.slice(i, end)
      i = end
      let j = i
      while (j < n && isSpace(text.charCodeAt(j))) j++
      const call = text.charCodeAt(j) === 40
      if (call) {
        if (DANGER.has(word) || DANGER.has(lastSegment(word))) { emit(C_X); continue }
        if (j === i && DANGER_ADJACENT.has(word)) { emit(C_X); continue }
        if (FUNCTIONS.has(word)) { emit(C_F); continue }
      }
      const cls = WORDS.get(word)
      if (word === 'order' || word === 'group') {
        const [next, after] = peekWord(text, i)
        if (next === 'by') { i = after; emit(C_B); continue }
        emit(C_N)
        continue
      }
      if (word === 'union') {
        const [next, after] = peekWord(text, i)
        if (next === 'all' || next === 'distinct' || next === 'distinctrow') i = after
        emit(C_U)
        continue
      }
      if (word === 'waitfor') {
        const [next, after] = peekWord(text, i)
        if (next === 'delay' || next === 'time') i = after
        emit(C_W)
        continue
      }
      if (cls === undefined) emit(C_N)
      else emit(cls, word === 'not')
      continue
    }
    switch (c) {
      case 64: { // @var, @@var
        let end = i + 1
        if (text.charCodeAt(end) === 64) end++
        while (end < n && isWordPart(text.charCodeAt(end))) end++
        i = end
        emit(C_V)
        continue
      }
      case 35: // # comment to end of line
        i = lineEnd(text, i)
        emit(C_C)
        continue
      case 45: // -- comment, or minus
        if (text.charCodeAt(i + 1) === 45) {
          i = lineEnd(text, i)
          emit(C_C)
        } else {
          i++
          emit(C_O, true)
        }
        continue
      case 47: // /* comment */, /*! executable comment */, or divide
        if (text.charCodeAt(i + 1) === 42) {
          if (text.charCodeAt(i + 2) === 33) {
            i += 3
            while (i < n && isDigit(text.charCodeAt(i))) i++
            versioned++
            continue
          }
          const end = text.indexOf('*/', i + 2)
          i = end === -1 ? n : end + 2
          emit(C_C)
        } else {
          i++
          emit(C_O)
        }
        continue
      case 42: // end of an executable comment, or multiply
        if (versioned > 0 && text.charCodeAt(i + 1) === 47) {
          versioned--
          i += 2
        } else {
          i++
          emit(C_O)
        }
        continue
      case 40: i++; emit(C_OPEN); continue
      case 41: i++; emit(C_CLOSE); continue
      case 44: i++; emit(C_COMMA); continue
      case 59: i++; emit(C_SEMI); continue
      case 61: // = ==
        i++
        while (text.charCodeAt(i) === 61) i++
        emit(C_EQ)
        continue
      case 60: case 62: { // < > <= >= <> <=>
        i++
        let d = text.charCodeAt(i)
        while (d === 61 || d === 62) d = text.charCodeAt(++i)
        emit(C_EQ)
        continue
      }
      case 33: // != or !
        if (text.charCodeAt(i + 1) === 61) {
          i += 2
          emit(C_EQ)
        } else {
          i++
          emit(C_O, true)
        }
        continue
      case 124: // || or |
        if (text.charCodeAt(i + 1) === 124) { i += 2; emit(C_AND) } else { i++; emit(C_O) }
        continue
      case 38: // && or &
        if (text.charCodeAt(i + 1) === 38) { i += 2; emit(C_AND) } else { i++; emit(C_O) }
        continue
      case 43: case 126: i++; emit(C_O, true); continue // + ~
      case 37: case 94: i++; emit(C_O); continue // % ^
      case 58: // := or ::
        if (text.charCodeAt(i + 1) === 61 || text.charCodeAt(i + 1) === 58) { i += 2; emit(C_O) } else { i++; emit(C_OTHER) }
        continue
      default:
        i++
        emit(C_OTHER)
    }
  }
  flush(true)
}

function lastSegment(word: string): string {
  const dot = word.lastIndexOf('.')
  return dot === -1 ? word : word.slice(dot + 1)
}

/** Index just past the closing quote (a doubled quote or a backslash escapes), or the end of the text. */
function skipString(text: string, i: number, quote: number): number {
  const n = text.length
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 92) {
      i += 2
      continue
    }
    if (c === quote) {
      if (text.charCodeAt(i + 1) === quote) {
        i += 2
        continue
      }
      return i + 1
    }
    i++
  }
  return n
}

function lineEnd(text: string, i: number): number {
  const nl = text.indexOf('\n', i)
  return nl === -1 ? text.length : nl + 1
}

function scanNumber(text: string, i: number): [number, number] {
  const n = text.length
  let j = i
  if (text.charCodeAt(j) === 48 && (text.charCodeAt(j + 1) === 120 || text.charCodeAt(j + 1) === 98)) {
    j += 2
    while (j < n && isWordPart(text.charCodeAt(j))) j++
    return [j, C_1]
  }
  while (j < n && isDigit(text.charCodeAt(j))) j++
  if (text.charCodeAt(j) === 46) {
    j++
    while (j < n && isDigit(text.charCodeAt(j))) j++
  }
  if (text.charCodeAt(j) === 101) {
    let k = j + 1
    if (text.charCodeAt(k) === 43 || text.charCodeAt(k) === 45) k++
    if (isDigit(text.charCodeAt(k))) {
      j = k
      while (j < n && isDigit(text.charCodeAt(j))) j++
    }
  }
  // `3rd`, `18h`, `4b`: a word, not a number.
  if (j < n && isWordStart(text.charCodeAt(j))) {
    while (j < n && isWordPart(text.charCodeAt(j))) j++
    return [j, C_N]
  }
  return [j, C_1]
}

/** The next word after optional whitespace, and the index after it. */
function peekWord(text: string, i: number): [string, number] {
  const n = text.length
  let j = i
  while (j < n && isSpace(text.charCodeAt(j))) j++
  // Comments may sit between the two words of `union/**/all` or `order/**/by`.
  while (text.charCodeAt(j) === 47 && text.charCodeAt(j + 1) === 42) {
    const end = text.indexOf('*/', j + 2)
    if (end === -1) return ['', i]
    j = end + 2
    while (j < n && isSpace(text.charCodeAt(j))) j++
  }
  const start = j
  while (j < n && isWordPart(text.charCodeAt(j))) j++
  return [text.slice(start, j), j]
}
