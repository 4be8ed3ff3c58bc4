/**
 * Bearer tokens (SPEC §3): a JWT from a configured issuer, or an opaque token introspected at the
 * one issuer of the pack that offers introspection. The token's scopes are then held against
 * what the pack requires.
 *
 * @module
 */
import type { Bindings } from '../../../env.ts'
import type { TokenProblem } from '../../../errors/reasons.ts'
import type { CompiledIssuer, CompiledPack, CompiledPolicy } from '../../../policy/types.ts'
import { grantedScopes, mapClaims, missingScopes, type Claims } from '../claims.ts'
import type { AuthnResult } from '../result.ts'
import { Introspector } from './introspect.ts'
import { issuerKeySources, type IssuerKeySource } from './issuer-keys.ts'
import { looksLikeJwt, unverifiedIssuer, verifyJwt, type JwtOutcome } from './verify-jwt.ts'

interface PackIssuers {
  accepted: ReadonlySet<string>
  /** The issuer opaque tokens are introspected at; the compiler allows at most one per pack. */
  opaque: CompiledIssuer | null
}

type Verified = { ok: true; issuer: CompiledIssuer; claims: Claims } | { ok: false; result: AuthnResult }

export class BearerVerifier {
  readonly #byIss = new Map<string, CompiledIssuer>()
  readonly #keySources: Map<string, IssuerKeySource>
  readonly #packs = new Map<string, PackIssuers>()
  readonly #introspector = new Introspector()

  constructor(policy: CompiledPolicy) {
    for (const issuer of Object.values(policy.issuers)) this.#byIss.set(issuer.issuer, issuer)
    this.#keySources = issuerKeySources(policy.issuers)
    for (const pack of policy.packs) {
      const opaque = pack.bearerIssuers.map((name) => policy.issuers[name] as CompiledIssuer).find((issuer) => issuer.introspection !== null)
      this.#packs.set(pack.id, { accepted: new Set(pack.bearerIssuers), opaque: opaque ?? null })
    }
  }

  /** A bearer token for a pack: verified, mapped to an invoker, held against the pack's scopes. */
  async verify(token: string, pack: CompiledPack, env: Bindings): Promise<AuthnResult> {
    const issuers = this.#packs.get(pack.id) as PackIssuers
    const verified = looksLikeJwt(token)
      ? await this.#verifyJwtFrom(token, issuers.accepted, pack, env)
      : await this.#introspect(token, issuers.opaque, pack, env)
    if (!verified.ok) return verified.result
    const { issuer, claims } = verified
    const authentication = mapClaims(issuer.claims, claims, { method: 'bearer', issuer: issuer.name })
    if (authentication === null) return invalid(pack, 'claims', issuer.name)
    const missing = missingScopes(grantedScopes(claims), pack.requiredScopes)
    if (missing !== null) return { kind: 'reject', reason: { reason: 'insufficient_scope', ...missing } }
    return { kind: 'ok', authentication }
  }

  /** A JWT from one of `accepted` issuers, without scope checks (session cookies use this too). */
  async verifyJwt(token: string, accepted: ReadonlySet<string>, env: Bindings): Promise<JwtOutcome> {
    const iss = unverifiedIssuer(token)
    if (iss === null) return { ok: false, problem: 'malformed', issuer: null }
    const issuer = this.#byIss.get(iss)
    if (issuer === undefined || !accepted.has(issuer.name)) return { ok: false, problem: 'issuer_unknown', issuer: null }
    const source = this.#keySources.get(issuer.name)
    // An issuer configured only for introspection has no keys: its JWTs are never trusted unseen.
    if (source === undefined) return { ok: false, problem: 'key_unknown', issuer: issuer.name }
    return verifyJwt(token, issuer, source, env)
  }

  async #verifyJwtFrom(token: string, accepted: ReadonlySet<string>, pack: CompiledPack, env: Bindings): Promise<Verified> {
    const outcome = await this.verifyJwt(token, accepted, env)
    if (outcome.ok) return { ok: true, issuer: outcome.issuer, claims: outcome.claims }
    if ('unavailable' in outcome) return { ok: false, result: unavailable(outcome.issuer, outcome.unavailable) }
    return { ok: false, result: invalid(pack, outcome.problem, outcome.issuer) }
  }

  async #introspect(token: string, issuer: CompiledIssuer | null, pack: CompiledPack, env: Bindings): Promise<Verified> {
    if (issuer === null) return { ok: false, result: invalid(pack, 'malformed', null) }
    const outcome = await this.#introspector.introspect(token, issuer, env)
    if (outcome.ok) return { ok: true, issuer, claims: outcome.claims }
    if ('unavailable' in outcome) return { ok: false, result: unavailable(issuer.name, outcome.unavailable) }
    return { ok: false, result: invalid(pack, outcome.problem, issuer.name) }
  }
}

function invalid(pack: CompiledPack, problem: TokenProblem, issuer: string | null): AuthnResult {
  return { kind: 'reject', reason: { reason: 'bearer_invalid', problem, issuer, accepted: pack.auth } }
}

function unavailable(issuer: string, problem: string): AuthnResult {
  return { kind: 'reject', reason: { reason: 'issuer_unavailable', issuer, problem } }
}
