/**
 * Bearer tokens (SPEC §3): a JWT from a configured issuer, or an opaque token introspected at the
 * one issuer of the pack that offers introspection. The token's scopes are then held against
 * what the pack requires.
 *
 * @module
 */
import { VERIFIED_TOKEN_TTL_MS } from '../../../constants.ts'
import type { Bindings } from '../../../env.ts'
import { sha256Hex } from '../../../keys/digest.ts'
import { AnswerCache } from '../answer-cache.ts'
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
  /** Tokens whose signature already verified, by digest: see {@link BearerVerifier.verifyJwt}. */
  readonly #verified = new AnswerCache<Extract<JwtOutcome, { ok: true }>>()

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
    if (typeof authentication === 'string') return invalid(pack, authentication, issuer.name)
    const missing = missingScopes(grantedScopes(claims), pack.requiredScopes)
    if (missing !== null) return { kind: 'reject', reason: { reason: 'insufficient_scope', ...missing }, authentication }
    return { kind: 'ok', authentication }
  }

  /**
   * A JWT from one of `accepted` issuers, without scope checks (session cookies use this too).
   *
   * A client sends the same access token many times; its signature is verified once, and the
   * verified claims are then reused (by a digest of the token) until the token expires or for
   * {@link VERIFIED_TOKEN_TTL_MS}, whichever is first, and only while the issuer still publishes
   * the key that signed it: a key rotated out of the JWKS ends the reuse at the next refresh.
   * Tokens of shared-secret issuers are not reused (a changed secret must take effect at once).
   */
  async verifyJwt(token: string, accepted: ReadonlySet<string>, env: Bindings): Promise<JwtOutcome> {
    const digest = await sha256Hex(token)
    const reused = this.#verified.get(digest)
    if (reused !== undefined && accepted.has(reused.issuer.name) && (await this.#stillPublished(reused))) return reused
    const outcome = await this.#verifyJwtUncached(token, accepted, env)
    if (outcome.ok && this.#keySources.get(outcome.issuer.name)?.kind === 'set') {
      const exp = typeof outcome.claims.exp === 'number' ? outcome.claims.exp * 1000 : 0
      this.#verified.set(digest, outcome, Math.min(VERIFIED_TOKEN_TTL_MS, exp - Date.now()))
    }
    return outcome
  }

  /**
   * Whether the issuer's key set still resolves the token's `alg` and `kid`. Asking the set itself
   * (not a copy of its JWKS) keeps jose's refresh rules: past `max_age` it refetches, and a key
   * that left the JWKS no longer resolves.
   */
  async #stillPublished(verified: Extract<JwtOutcome, { ok: true }>): Promise<boolean> {
    const source = this.#keySources.get(verified.issuer.name)
    if (source?.kind !== 'set') return false
    try {
      await source.getKey(verified.header)
      return true
    } catch {
      return false
    }
  }

  async #verifyJwtUncached(token: string, accepted: ReadonlySet<string>, env: Bindings): Promise<JwtOutcome> {
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
