/**
 * Turns verified claims (a JWT payload, an introspection answer, a session answer) into an
 * invoker, by the mapping the policy compiled. Only the fields the policy names cross over:
 * tokens, session ids and other payload never reach `meta`. Every value is held to the limits of
 * `claim-limits.ts`: an oversized one refuses the credential, it is never cut short.
 *
 * @module
 */
import { foldId } from '../../fold.ts'
import type { AuthFacts, Authentication, JsonValue } from '../../invoker.ts'
import type { ClaimMapping } from '../../policy/types.ts'
import { metaBudget, metaValueProblem, textProblem } from './claim-limits.ts'

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

/**
 * Why the claims cannot be mapped: `claims` when they name nobody (no id claim),
 * `claim_too_large` when a value is over a limit of `claim-limits.ts` (refused, not cut short),
 * `id_reserved` when the id falls into another invoker's namespace (`anon:`, `apikey:`, a
 * signer's delegated users, another issuer's `id_prefix`) or is an id policy gives another
 * invoker (a signer's, an API key's): an issuer without an `id_prefix` cannot pass its subjects
 * off as those.
 */
export type UnmappedClaims = 'claims' | 'claim_too_large' | 'id_reserved'

/** The invoker the claims stand for, or why there is none. */
export function mapClaims(mapping: ClaimMapping, claims: Claims, auth: AuthFacts): Authentication | UnmappedClaims {
  let id: string | null = null
  for (const path of mapping.id) {
    id = text(at(claims, path))
    if (id !== null) break
  }
  if (id === null) return 'claims'
  if (textProblem('id', id) !== null) return 'claim_too_large'
  const fullId = mapping.idPrefix + id
  // Compared as a folding backend compares (case, NFKC, ignorables, surrounding spaces): the
  // reserved lists are folded at build time.
  const folded = foldId(fullId)
  for (const prefix of mapping.reservedIdPrefixes) if (folded.startsWith(prefix)) return 'id_reserved'
  if (mapping.reservedIds.includes(folded)) return 'id_reserved'
  const meta: Record<string, JsonValue> = {}
  const budget = metaBudget()
  if (mapping.email !== null) {
    const email = text(at(claims, mapping.email))
    if (email !== null) {
      if (textProblem('email', email) !== null || metaValueProblem('meta.email', email, budget) !== null)
        return 'claim_too_large'
      meta['email'] = email
    }
  }
  for (const { field, path } of mapping.meta) {
    const value = at(claims, path)
    if (value === undefined) continue
    // Claims come from JSON (a token payload, an endpoint's answer), so every value is JSON.
    if (metaValueProblem(`meta.${field}`, value, budget) !== null) return 'claim_too_large'
    meta[field] = value as JsonValue
  }
  const label = mapping.label === null ? null : text(at(claims, mapping.label))
  if (label !== null && textProblem('label', label) !== null) return 'claim_too_large'
  return {
    invoker: { id: fullId, kind: mapping.kind, ...(label !== null ? { label } : {}), meta },
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
export function missingScopes(
  granted: Set<string>,
  required: { all: string[]; any: string[] },
): { scopes: string[]; anyOf: boolean } | null {
  const missing = required.all.filter((scope) => !granted.has(scope))
  if (missing.length > 0) return { scopes: missing, anyOf: false }
  if (required.any.length > 0 && !required.any.some((scope) => granted.has(scope)))
    return { scopes: required.any, anyOf: true }
  return null
}
