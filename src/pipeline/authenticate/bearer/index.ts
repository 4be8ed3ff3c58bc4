/**
 * Bearer tokens (SPEC §3): a JWT from a configured issuer, or an opaque token introspected at the
 * one issuer of the pack that offers introspection. The token's scopes are then held against
 * what the pack requires.
 *
 * @module
 */
import { VERIFIED_TOKEN_TTL_MS } from '../../../constants.ts'
import { ageSeconds, type NoteDegraded } from '../../../degraded.ts'
import type { Bindings } from '../../../env.ts'
import { sha256Hex } from '../../../keys/digest.ts'
import type { Authentication } from '../../../invoker.ts'
import { AnswerCache } from '../answer-cache.ts'
import { jwtExpiresAt } from '../expiry.ts'
import type { TokenProblem } from '../../../errors/reasons.ts'
import type { CompiledIssuer, CompiledPack, CompiledPolicy } from '../../../policy/types.ts'
import { grantedScopes, mapClaims, missingScopes, type Claims, type UnmappedClaims } from '../claims.ts'
import { ok, refused, type Ok, type Outcome, type Refused } from '../../../outcome.ts'
import { reject, type AuthnResult, type Rejection } from '../result.ts'
import { audienceAccepted, tokenAudiences } from './audience.ts'
import { frozen, grantedBytes, type Granted } from './granted.ts'
import { Introspector } from './introspect.ts'
import { issuerKeySources, type IssuerKeySource } from './issuer-keys.ts'
import { looksLikeJwt, unverifiedIssuer, verifyJwt, type JwtRefusal } from './verify-jwt.ts'

interface PackIssuers {
  accepted: ReadonlySet<string>
  /** The issuer opaque tokens are introspected at; the compiler allows at most one per pack. */
  opaque: CompiledIssuer | null
}

/**
 * What a verified JWT is used for, and how its claims become an invoker: the same token maps to
 * a `service` as a bearer token and to an `authUser` as a session cookie, so the use is part of
 * what a reused answer is keyed by.
 */
export interface JwtUse {
  readonly name: 'bearer' | 'session'
  map(issuer: CompiledIssuer, claims: Claims): Authentication | UnmappedClaims
}

const BEARER_USE: JwtUse = {
  name: 'bearer',
  map: (issuer, claims) => mapClaims(issuer.claims, claims, { method: 'bearer', issuer: issuer.name }),
}

/** Unavailable: `source` names the issuer whose keys could not be had. */
export type JwtAnswer = Outcome<{ issuer: CompiledIssuer; granted: Granted }, JwtRefusal>

/** A verified JWT as it is reused: what it granted, and the key that signed it. */
interface Reused {
  issuer: string
  granted: Granted
  header: { alg: string; kid?: string }
}

/** A token verified and mapped, before the pack's own checks; or the authenticator's refusal already. */
type Verified = Ok<{ granted: Granted; issuer: CompiledIssuer }> | Refused<Rejection>

export class BearerVerifier {
  readonly #byIss = new Map<string, CompiledIssuer>()
  readonly #byName = new Map<string, CompiledIssuer>()
  readonly #keySources: Map<string, IssuerKeySource>
  readonly #packs = new Map<string, PackIssuers>()
  readonly #introspector = new Introspector()
  /** Tokens whose signature already verified: see {@link BearerVerifier.verifyJwt}. */
  readonly #verified = new AnswerCache<Reused>((reused) => grantedBytes(reused.granted) + reused.issuer.length * 2)

  constructor(policy: CompiledPolicy) {
    for (const issuer of Object.values(policy.issuers)) {
      this.#byIss.set(issuer.issuer, issuer)
      this.#byName.set(issuer.name, issuer)
    }
    this.#keySources = issuerKeySources(policy.issuers)
    for (const pack of policy.packs) {
      const opaque = pack.bearerIssuers
        .map((name) => policy.issuers[name] as CompiledIssuer)
        .find((issuer) => issuer.introspection !== null)
      this.#packs.set(pack.id, { accepted: new Set(pack.bearerIssuers), opaque: opaque ?? null })
    }
  }

  /**
   * A bearer token for a pack: verified, mapped to an invoker, held against the pack's scopes.
   * `maxAgeMs`: the oldest remembered introspection answer that may decide (a stream's recheck;
   * a JWT's own `exp` is checked either way).
   */
  async verify(
    token: string,
    pack: CompiledPack,
    env: Bindings,
    note?: NoteDegraded,
    maxAgeMs?: number,
  ): Promise<AuthnResult> {
    const issuers = this.#packs.get(pack.id) as PackIssuers
    const verified = looksLikeJwt(token)
      ? await this.#verifyJwtFrom(token, issuers.accepted, pack, env, note)
      : await this.#introspect(token, issuers.opaque, pack, env, note, maxAgeMs)
    if (verified.kind !== 'ok') return verified
    const { granted, issuer } = verified.value
    // So are audiences: a token for an MCP pack's resource opens that pack alone (RFC 8707).
    if (!audienceAccepted(granted.audiences, issuer, pack)) return invalid(pack, 'audience', issuer.name)
    // Scopes are the pack's own requirement: checked on every use, cached answer or not.
    const { authentication, scopes } = granted
    const missing = missingScopes(scopes, pack.requiredScopes)
    // Carries the invoker: report mode forwards a caller whose token lacks the pack's scopes.
    if (missing !== null) return reject({ reason: 'insufficient_scope', ...missing }, authentication, granted.expiresAt)
    return ok({ authentication, expiresAt: granted.expiresAt })
  }

  /**
   * A JWT from one of `accepted` issuers, mapped for `use`, without scope checks (session cookies
   * use this too).
   *
   * A client sends the same access token many times; its signature is verified once, and the
   * mapped answer is then reused (keyed by the use and a digest of the token, which fixes the
   * token's issuer) until the token expires, reaches its issuer's `max_token_age`, or for
   * {@link VERIFIED_TOKEN_TTL_MS}, whichever is first; only for packs that accept that issuer;
   * and only while the issuer still publishes the key that signed it: a key rotated out of the
   * JWKS ends the reuse at the next refresh. Tokens of shared-secret issuers are not reused (a
   * changed secret must take effect at once).
   */
  async verifyJwt(
    token: string,
    accepted: ReadonlySet<string>,
    env: Bindings,
    use: JwtUse = BEARER_USE,
    note?: NoteDegraded,
  ): Promise<JwtAnswer> {
    const key = `${use.name}\n${await sha256Hex(token)}`
    const reused = this.#verified.get(key)
    if (reused !== undefined && accepted.has(reused.issuer) && (await this.#stillPublished(reused))) {
      if (note) this.#noteStaleKeys(reused.issuer, note)
      return ok({ issuer: this.#byName.get(reused.issuer) as CompiledIssuer, granted: reused.granted })
    }
    const iss = unverifiedIssuer(token)
    if (iss === null) return refused({ problem: 'malformed', issuer: null })
    const issuer = this.#byIss.get(iss)
    if (issuer === undefined || !accepted.has(issuer.name)) return refused({ problem: 'issuer_unknown', issuer: null })
    const source = this.#keySources.get(issuer.name)
    // An issuer configured only for introspection has no keys: its JWTs are never trusted unseen.
    if (source === undefined) return refused({ problem: 'key_unknown', issuer: issuer.name })
    const outcome = await verifyJwt(token, issuer, source, env)
    if (note) this.#noteStaleKeys(issuer.name, note)
    if (outcome.kind !== 'ok') return outcome
    const { claims, header } = outcome.value
    const authentication = use.map(issuer, claims)
    if (typeof authentication === 'string') return refused({ problem: authentication, issuer: issuer.name })
    const granted: Granted = {
      authentication: frozen(authentication),
      scopes: grantedScopes(claims),
      audiences: tokenAudiences(claims['aud'], issuer),
      expiresAt: jwtExpiresAt(claims, issuer),
    }
    if (source.kind === 'set')
      this.#verified.set(key, { issuer: issuer.name, granted, header }, reuseTtlMs(issuer, claims))
    return ok({ issuer, granted })
  }

  /** A token decided with an issuer's last good keys while its JWKS endpoint fails says so (issue 17, item 3). */
  #noteStaleKeys(issuer: string, note: NoteDegraded): void {
    const source = this.#keySources.get(issuer)
    const stale = source?.kind === 'set' ? source.staleness() : null
    if (stale !== null)
      note({
        kind: 'jwks_stale',
        source: issuer,
        stale_for: ageSeconds(stale.since, Date.now()),
        problem: stale.problem,
      })
  }

  /**
   * Whether the issuer's key set still resolves the token's `alg` and `kid`. Asking the set itself
   * (not a copy of its JWKS) keeps jose's refresh rules: past `max_age` it refetches, and a key
   * that left the JWKS no longer resolves.
   */
  async #stillPublished(reused: Reused): Promise<boolean> {
    const source = this.#keySources.get(reused.issuer)
    if (source?.kind !== 'set') return false
    try {
      await source.getKey(reused.header)
      return true
    } catch {
      return false
    }
  }

  async #verifyJwtFrom(
    token: string,
    accepted: ReadonlySet<string>,
    pack: CompiledPack,
    env: Bindings,
    note?: NoteDegraded,
  ): Promise<Verified> {
    const outcome = await this.verifyJwt(token, accepted, env, BEARER_USE, note)
    if (outcome.kind === 'ok') return outcome
    if (outcome.kind === 'unavailable') return issuerUnavailable(outcome.source as string, outcome.problem)
    return invalid(pack, outcome.refusal.problem, outcome.refusal.issuer)
  }

  async #introspect(
    token: string,
    issuer: CompiledIssuer | null,
    pack: CompiledPack,
    env: Bindings,
    note?: NoteDegraded,
    maxAgeMs?: number,
  ): Promise<Verified> {
    if (issuer === null) return invalid(pack, 'malformed', null)
    const outcome = await this.#introspector.introspect(token, issuer, env, note, maxAgeMs)
    if (outcome.kind === 'ok') return ok({ granted: outcome.value.granted, issuer })
    if (outcome.kind === 'unavailable') return issuerUnavailable(issuer.name, outcome.problem)
    return invalid(pack, outcome.refusal, issuer.name)
  }
}

/** How long a verified JWT's answer may be reused: never past what would refuse the token. */
function reuseTtlMs(issuer: CompiledIssuer, claims: Claims): number {
  const now = Date.now()
  let until = now + VERIFIED_TOKEN_TTL_MS
  if (typeof claims['exp'] === 'number') until = Math.min(until, claims['exp'] * 1000)
  else until = now
  if (issuer.maxTokenAgeSeconds !== null && typeof claims['iat'] === 'number') {
    until = Math.min(until, (claims['iat'] + issuer.maxTokenAgeSeconds) * 1000)
  }
  return until - now
}

function invalid(pack: CompiledPack, problem: TokenProblem, issuer: string | null): Refused<Rejection> {
  return reject({ reason: 'bearer_invalid', problem, issuer, accepted: pack.auth })
}

function issuerUnavailable(issuer: string, problem: string): Refused<Rejection> {
  return reject({ reason: 'issuer_unavailable', issuer, problem })
}
