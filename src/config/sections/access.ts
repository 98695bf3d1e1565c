/**
 * Config section `access`: allow and deny lists of client addresses per site and path prefix.
 * Semantics (longest prefix decides alone; deny beats allow; allow-only refuses everyone else) are documented in
 * `src/access/rules.ts`. `checkAccessSection` reports what the schema cannot (unknown site, a rule with neither
 * list, a rule shadowed by an earlier identical one).
 */
import { Type, type Static } from '@sinclair/typebox'
import { Cidr, Strict } from '../types.js'
import { checkAccessRules } from '../../access/rules.js'
import type { SiteRef } from '../../access/site-ref.js'
import type { CrossProblem } from '../cross-check.js'

export const AccessRule = Strict({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Shown in logs and alerts. Default: `access[<index>]`.' })),
  site: Type.Optional(Type.String({ minLength: 1, description: 'Site name or one of its hosts. Default: every site.' })),
  pathPrefix: Type.String({
    pattern: '^/',
    description: 'Paths this rule covers, segment-wise: `/admin` covers `/admin/x`, not `/administrator`. Matched after decoding, resolving `.`/`..` and `//`, case-insensitively.',
  }),
  allow: Type.Optional(Type.Array(Cidr(), { minItems: 1, description: 'Only these addresses may enter (everyone else is refused).' })),
  deny: Type.Optional(Type.Array(Cidr(), { minItems: 1, description: 'These addresses are refused, even if `allow` lists them.' })),
})

export const Access = Type.Array(AccessRule, {
  default: [],
  description: 'Address rules per site and path. The rule with the longest matching prefix decides; no rule: allowed. Refused: 403.',
})

export type AccessConfig = Static<typeof Access>
export type AccessRuleEntry = Static<typeof AccessRule>

export function checkAccessSection(access: AccessConfig, sites: readonly SiteRef[], root = 'access'): CrossProblem[] {
  return checkAccessRules(access, sites).map((p) => {
    const m = /^(\w+)(?:\[(\d+)\])?$/.exec(p.field)
    const at = [root, p.index, ...(m ? [m[1]!, ...(m[2] !== undefined ? [Number(m[2])] : [])] : [])]
    return { at, path: `${root}[${p.index}].${p.field}`, message: p.message, code: 'RAMPART_ERR_CONFIG_CONFLICT', severity: p.severity }
  })
}
