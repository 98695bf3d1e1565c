/**
 * Rampart's own small HTML pages (errors, blocks). Built once per status at startup; per request only the request
 * id (already restricted to `[A-Za-z0-9._:-]`) is inserted. They carry no internal detail: no upstream address, no
 * stack, no error text — only the status, a sentence, and the request id to quote to support.
 */
import { ERRORS, type ErrorCode } from '../errors.js'

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  421: 'Misdirected Request',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

const SENTENCES: Partial<Record<ErrorCode, string>> = {
  RAMPART_ERR_UPSTREAM_UNREACHABLE: 'The site is not responding right now. Please try again in a moment.',
  RAMPART_ERR_UPSTREAM_TIMEOUT: 'The site took too long to respond. Please try again in a moment.',
  RAMPART_ERR_UPSTREAM_BAD_RESPONSE: 'The site sent a response we could not pass on.',
  RAMPART_ERR_UPSTREAM_UNAVAILABLE: 'The site is temporarily unavailable. Please try again shortly.',
  RAMPART_ERR_THREAT_BLOCKED: 'This request was blocked for security reasons.',
  RAMPART_ERR_ACCESS_DENIED: 'You do not have access to this page from your network.',
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

interface Page { readonly status: number; readonly head: string; readonly tail: string }

const cache = new Map<ErrorCode, Page>()

function build(code: ErrorCode): Page {
  const spec = ERRORS[code] as { message: string; status?: number }
  const status = spec.status ?? 500
  const title = `${status} ${TITLES[status] ?? 'Error'}`
  const sentence = SENTENCES[code] ?? `${spec.message.charAt(0).toUpperCase()}${spec.message.slice(1)}.`
  const head = '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">' +
    `<title>${escapeHtml(title)}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}code{background:#eee;padding:.1em .3em}</style>` +
    `</head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(sentence)}</p><p>Request id: <code>`
  const tail = '</code></p></body></html>\n'
  return { status, head, tail }
}

/** The page for a catalogued error code. `requestId` must already be validated (the gateway only makes safe ids). */
export function errorPage(code: ErrorCode, requestId: string): { status: number; body: string } {
  let page = cache.get(code)
  if (!page) {
    page = build(code)
    cache.set(code, page)
  }
  return { status: page.status, body: page.head + escapeHtml(requestId) + page.tail }
}
