/**
 * The body-field step shared by the rate limits and the login lockout: one combined field spec per plan, and at most
 * one `extractFields` per request, whichever of the two protections asks first (a login route that is also keyed by
 * a body field in a rate limit parses its body once).
 *
 * Contract: `bodyFieldStep(config)` returns the same step for the same config object, so both protections of one
 * plan share it; a reload compiles a new config object and so a new step. `step.read(request, head, truncated)`
 * extracts from the buffered head of the body (the gateway hands every body protection the same head) and caches
 * the result in a WeakMap keyed by the request: nothing is added to the request and nothing outlives it.
 */
import type { FastifyRequest } from 'fastify'
import type { RampartConfig } from '../config/schema.js'
import { compileFieldSpec, extractFields, type ExtractedFields, type FieldSpec } from '../body/fields.js'
import { parseKeyPart } from '../limits/key.js'

export interface BodyFieldStep {
  /** Every body field a rate-limit key or a login route names. */
  readonly spec: FieldSpec
  read(request: FastifyRequest, head: Buffer, truncated: boolean): ExtractedFields
}

const steps = new WeakMap<RampartConfig, BodyFieldStep>()

/** The field names the plan reads from bodies: `body.<field>` rate-limit key parts and login user-name fields. */
export function bodyFieldNames(config: RampartConfig): string[] {
  const names: string[] = []
  for (const limit of config.rateLimits) {
    for (const text of typeof limit.key === 'string' ? [limit.key] : limit.key) {
      const part = parseKeyPart(text)
      if (part?.kind === 'body') names.push(part.field)
    }
  }
  for (const login of config.lockout?.logins ?? []) names.push(login.username.slice('body.'.length))
  return names
}

export function bodyFieldStep(config: RampartConfig): BodyFieldStep {
  const known = steps.get(config)
  if (known) return known
  const spec = compileFieldSpec(bodyFieldNames(config))
  const seen = new WeakMap<FastifyRequest, ExtractedFields>()
  const step: BodyFieldStep = {
    spec,
    read(request, head, truncated) {
      let fields = seen.get(request)
      if (fields === undefined) {
        fields = extractFields(spec, head, request.raw.headers['content-type'], { truncated })
        seen.set(request, fields)
      }
      return fields
    },
  }
  steps.set(config, step)
  return step
}
