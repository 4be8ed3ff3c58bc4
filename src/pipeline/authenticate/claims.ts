/**
 * Turns verified claims (a JWT payload, an introspection answer, a session answer) into an
 * invoker, by the mapping the policy compiled. Only the fields the policy names cross over:
 * tokens, session ids and other payload never reach `meta`.
 *
 * @module
 */
import type { AuthFacts, Authentication, JsonValue } from '../../invoker.ts'
import type { ClaimMapping } from '../../policy/types.ts'

export type Claims = Readonly<Record<string, unknown>>

function at(claims: Claims, path: readonly string[]): unknown {
  let node: unknown = claims
  for (const step of path) {
    if (typeof node !== 'object' || node === null || Array.isArray(node) || !Object.hasOwn(node, step)) return undefined
    node = (node as Record<string, unknown>)[step]
  }
  return node
}

function text(value: unknown): string | null {
  if (typeof value === 'string' && value.length > 0) return value
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  return null
}

function isJson(value: unknown, depth = 0): value is JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true
  if (typeof value === 'number') return Number.isFinite(value)
  if (depth > 8 || typeof value !== 'object') return false
  if (Array.isArray(value)) return value.every((item) => isJson(item, depth + 1))
  return Object.values(value).every((item) => isJson(item, depth + 1))
}

/** The invoker the claims stand for, or `null` when they name nobody (no id claim). */
export function mapClaims(mapping: ClaimMapping, claims: Claims, auth: AuthFacts): Authentication | null {
  let id: string | null = null
  for (const path of mapping.id) {
    id = text(at(claims, path))
    if (id !== null) break
  }
  if (id === null) return null
  const meta: Record<string, JsonValue> = {}
  if (mapping.email !== null) {
    const email = text(at(claims, mapping.email))
    if (email !== null) meta['email'] = email
  }
  for (const { field, path } of mapping.meta) {
    const value = at(claims, path)
    if (value !== undefined && isJson(value)) meta[field] = value
  }
  const label = mapping.label === null ? null : text(at(claims, mapping.label))
  return {
    invoker: { id: mapping.idPrefix + id, kind: mapping.kind, ...(label !== null ? { label } : {}), meta },
    auth,
  }
}

/** Granted scopes: OAuth's space-separated `scope` (RFC 8693 §4.2) or an `scp` list. */
export function grantedScopes(claims: Claims): Set<string> {
  const scope = claims['scope'] ?? claims['scp']
  if (typeof scope === 'string') return new Set(scope.split(' ').filter(Boolean))
  if (Array.isArray(scope)) return new Set(scope.filter((s): s is string => typeof s === 'string'))
  return new Set()
}

/** What a token lacks for a pack (the missing scopes, or the list it needs one of), or `null`. */
export function missingScopes(granted: Set<string>, required: { all: string[]; any: string[] }): { scopes: string[]; anyOf: boolean } | null {
  const missing = required.all.filter((scope) => !granted.has(scope))
  if (missing.length > 0) return { scopes: missing, anyOf: false }
  if (required.any.length > 0 && !required.any.some((scope) => granted.has(scope))) return { scopes: required.any, anyOf: true }
  return null
}
