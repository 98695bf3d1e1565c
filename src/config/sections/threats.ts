/**
 * Config sections `threats` (request inspection) and `abuse` (per-address behaviour signals).
 *
 * `checkThreatsSection` and `checkAbuseSection` are the cross-field checks the schema cannot express (a `site:`
 * that names no site, an unknown rule id, an exclusion that would switch inspection off everywhere); they return
 * problems in the shape `crossCheck` collects.
 */
import { Type, type Static, type TUnsafe } from '@sinclair/typebox'
import { Duration, Enum, FailMode, Size, Strict } from '../types.js'
import { THREAT_FAMILIES, type Paranoia } from '../../threats/types.js'
import { checkExclusions } from '../../threats/exclusions.js'
import type { SiteRef } from '../../access/site-ref.js'
import { MAX_DISTINCT_USERNAMES } from '../../abuse/monitor.js'
import type { CrossProblem } from '../cross-check.js'

const Family = () => Enum(THREAT_FAMILIES)

export const ThreatExclusion = Strict({
  site: Type.Optional(Type.String({ minLength: 1, description: 'Site name or one of its hosts. Default: every site.' })),
  pathPrefix: Type.Optional(Type.String({
    pattern: '^/',
    description: 'Only requests under this path (segment-wise, after decoding and resolving `..`; case-insensitive). Default: every path.',
  })),
  ruleIds: Type.Optional(Type.Array(Type.String({ pattern: '^(sqli|xss|trav|cmd|scan)-\\d{3}$' }), {
    minItems: 1, uniqueItems: true, description: 'Rule ids to ignore, e.g. `xss-004`.',
  })),
  families: Type.Optional(Type.Array(Family(), { minItems: 1, uniqueItems: true, description: 'Families to ignore.' })),
  params: Type.Optional(Type.Array(Type.String({ minLength: 1 }), {
    minItems: 1, uniqueItems: true,
    description: 'Query, body or cookie names (`user-agent`, `referer` for those headers) to ignore; `content` also covers `content[…]`.',
  })),
  comment: Type.Optional(Type.String({ description: 'Why this exclusion exists. Not used by Rampart.' })),
})

const ParanoiaLevel = (): TUnsafe<Paranoia> => Type.Unsafe<Paranoia>({
  type: 'integer', minimum: 1, maximum: 3, default: 1,
  description: '1: rules specific enough to block real traffic. 2 and 3 add broader rules and more false positives.',
})

export const Threats = Strict({
  mode: Enum(['detect', 'block', 'off'] as const, {
    default: 'detect',
    description: '`detect` logs and alerts only; `block` answers 403 when the score reaches `threshold`; `off` inspects nothing.',
  }),
  paranoia: ParanoiaLevel(),
  threshold: Type.Integer({
    minimum: 1, maximum: 1000, default: 5,
    description: 'Score at which a request is blocked. Scores of the distinct rules that match add up; a strong rule scores 5.',
  }),
  onError: FailMode({
    default: 'open',
    description: 'If inspection itself fails: `open` lets the request through, `closed` refuses it (block mode only). Logged either way.',
  }),
  maxBodyInspect: Size({
    default: '64kb',
    description: 'Bytes of form, JSON and multipart text fields inspected per request. Beyond: inspected up to the cap and flagged truncated.',
  }),
  detectors: Type.Array(Family(), {
    default: [...THREAT_FAMILIES], minItems: 1, uniqueItems: true,
    description: 'Families to look for: sqli, xss, traversal, command, scanner.',
  }),
  exclusions: Type.Array(ThreatExclusion, {
    default: [],
    description: 'Matches to ignore, by site and path, then by rule id, family and parameter (all given lists must hold).',
  }),
}, { default: {} })

const Signal = (count: number, per: string, what: string) => Strict({
  enabled: Type.Boolean({ default: true, description: `Watch for ${what}.` }),
  count: Type.Integer({ minimum: 2, maximum: 1_000_000, default: count, description: `How many ${what} from one address raise the signal.` }),
  per: Duration({ default: per, description: 'Sliding window the count is taken over.' }),
  banFor: Type.Optional(Duration({ description: 'Also ban the address for this long. Absent: alert only.' })),
}, { default: {} })

export const Abuse = Strict({
  notFound: Signal(30, '1m', '404 responses (scanners probing for files)'),
  authFailures: Signal(20, '5m', '401 and 403 responses'),
  distinctUsernames: Signal(10, '10m', 'distinct usernames tried (credential stuffing)'),
  detections: Signal(5, '10m', 'requests with threat matches'),
  maxTrackedAddresses: Type.Integer({
    minimum: 100, maximum: 10_000_000, default: 10_000,
    description: 'Addresses tracked at once per signal; the least recently seen are forgotten first.',
  }),
}, { default: {} })

export type ThreatsConfig = Static<typeof Threats>
export type ThreatExclusionConfig = Static<typeof ThreatExclusion>
export type AbuseConfig = Static<typeof Abuse>
export type AbuseSignalConfig = AbuseConfig['notFound']

export function checkThreatsSection(threats: ThreatsConfig, sites: readonly SiteRef[], root = 'threats'): CrossProblem[] {
  const out: CrossProblem[] = []
  for (const p of checkExclusions(threats.exclusions, sites)) {
    const field = p.field.replace(/\[(\d+)\]$/, '')
    const item = /\[(\d+)\]$/.exec(p.field)
    const at = [root, 'exclusions', p.index, field, ...(item ? [Number(item[1])] : [])]
    out.push({ at, path: `${root}.exclusions[${p.index}].${p.field}`, message: p.message, code: 'RAMPART_ERR_CONFIG_CONFLICT', severity: 'error' })
  }
  threats.exclusions.forEach((ex, i) => {
    if (!ex.site && !ex.pathPrefix && !ex.ruleIds && !ex.families && !ex.params) {
      out.push({
        at: [root, 'exclusions', i], path: `${root}.exclusions[${i}]`,
        message: 'this exclusion turns inspection off for every request; use mode: off instead, or narrow it',
        code: 'RAMPART_ERR_CONFIG_CONFLICT', severity: 'error',
      })
    }
  })
  return out
}

export function checkAbuseSection(abuse: AbuseConfig, root = 'abuse'): CrossProblem[] {
  const out: CrossProblem[] = []
  for (const key of ['notFound', 'authFailures', 'distinctUsernames', 'detections'] as const) {
    const s = abuse[key]
    if (s.per <= 0) {
      out.push({ at: [root, key, 'per'], path: `${root}.${key}.per`, message: 'must be longer than 0', code: 'RAMPART_ERR_CONFIG_SCHEMA', severity: 'error' })
    }
    if (key === 'distinctUsernames' && s.count > MAX_DISTINCT_USERNAMES) {
      out.push({ at: [root, key, 'count'], path: `${root}.${key}.count`, message: `must be at most ${MAX_DISTINCT_USERNAMES} (usernames remembered per address)`, code: 'RAMPART_ERR_CONFIG_SCHEMA', severity: 'error' })
    }
    if (s.banFor !== undefined && s.banFor <= 0) {
      out.push({ at: [root, key, 'banFor'], path: `${root}.${key}.banFor`, message: 'must be longer than 0 (remove it to alert without banning)', code: 'RAMPART_ERR_CONFIG_SCHEMA', severity: 'error' })
    }
  }
  return out
}
