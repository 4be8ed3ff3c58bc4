/**
 * Browser sessions (SPEC §3): a cookie named in policy, verified either as a JWT of a configured
 * issuer or by asking the app that set it (e.g. Better Auth's `GET /api/auth/get-session`). The
 * app's answers are cached, as the invoker they map to, by the endpoint and a digest of the
 * cookie for a short TTL (refusals too): a cookie signed out at the app stops working at most
 * `cache_ttl` later. An answer that says when the session ends (Better Auth's `session.expiresAt`)
 * is remembered no longer than that, and a session past it is refused however it was learnt. A
 * failing endpoint is remembered for the cookie that met it for
 * {@link ENDPOINT_FAILURE_COOLDOWN_MS}: a browser retrying does not hit a failing app each time.
 *
 * @module
 */
import { ENDPOINT_FAILURE_COOLDOWN_MS } from '../../../constants.ts'
import { ageSeconds, type NoteDegraded } from '../../../degraded.ts'
import type { Bindings } from '../../../env.ts'
import type { Authentication } from '../../../invoker.ts'
import { sha256Hex } from '../../../keys/digest.ts'
import type { CompiledPack, CompiledSession } from '../../../policy/types.ts'
import { AnswerCache, jsonBytes } from '../answer-cache.ts'
import { audienceAccepted } from '../bearer/audience.ts'
import { frozen } from '../bearer/granted.ts'
import type { BearerVerifier, JwtUse } from '../bearer/index.ts'
import { mapClaims, type UnmappedClaims } from '../claims.ts'
import { sessionExpiresAt } from '../expiry.ts'
import { fetchJson, isJsonObject } from '../fetch-json.ts'
import { ok, refused, unavailable, type Outcome } from '../../../outcome.ts'
import { reject, type AuthnResult } from '../result.ts'

/**
 * `at`: when the app gave the answer (its age, when it comes from the cache); `expiresAt`: when
 * the app said the session ends, if it did; refused: why, when the claims say.
 */
type Lookup = Outcome<{ authentication: Authentication; at: number; expiresAt: number | null }, UnmappedClaims | null>

const REFUSED: Lookup = refused(null)

function lookupBytes(lookup: Lookup): number {
  if (lookup.kind === 'ok') return jsonBytes(lookup.value.authentication)
  return lookup.kind === 'unavailable' ? lookup.problem.length * 2 : 0
}

export class SessionVerifier {
  readonly #session: CompiledSession
  readonly #bearer: BearerVerifier
  readonly #cache = new AnswerCache<Lookup>(lookupBytes)
  /** Session JWTs: the one issuer, and the mapping of a signed-in user. */
  readonly #jwtIssuers: ReadonlySet<string>
  readonly #jwtUse: JwtUse
  /** The session endpoint's last failure, until it answers again; and its origin, which names it in the log. */
  #failing: string | null = null
  readonly #endpointOrigin: string

  constructor(session: CompiledSession, bearer: BearerVerifier) {
    this.#session = session
    this.#bearer = bearer
    this.#endpointOrigin = session.verify.by === 'introspection' ? new URL(session.verify.endpoint).origin : ''
    const verify = session.verify
    this.#jwtIssuers = new Set(verify.by === 'jwt' ? [verify.issuer] : [])
    this.#jwtUse = {
      name: 'session',
      map: (issuer, claims) => mapClaims(verify.claims, claims, { method: 'session', issuer: issuer.name }),
    }
  }

  /** `maxAgeMs`: the oldest remembered answer of the app that may decide (a stream's recheck). */
  async verify(
    cookie: { name: string; value: string },
    pack: CompiledPack,
    env: Bindings,
    note?: NoteDegraded,
    maxAgeMs?: number,
  ): Promise<AuthnResult> {
    const verify = this.#session.verify
    if (verify.by === 'jwt') {
      const outcome = await this.#bearer.verifyJwt(cookie.value, this.#jwtIssuers, env, this.#jwtUse, note)
      if (outcome.kind === 'ok') {
        const { granted, issuer } = outcome.value
        return audienceAccepted(granted.audiences, issuer, pack)
          ? ok({ authentication: granted.authentication, expiresAt: granted.expiresAt })
          : invalidSession(pack)
      }
      if (outcome.kind === 'unavailable') return reject({ reason: 'session_unavailable', problem: outcome.problem })
      const { problem } = outcome.refusal
      return invalidSession(pack, problem === 'claim_too_large' || problem === 'id_reserved' ? problem : undefined)
    }
    const lookup = await this.#lookup(`${cookie.name}=${cookie.value}`, verify, note, maxAgeMs)
    if (lookup.kind === 'ok')
      return ok({ authentication: lookup.value.authentication, expiresAt: lookup.value.expiresAt })
    if (lookup.kind === 'unavailable') return reject({ reason: 'session_unavailable', problem: lookup.problem })
    return invalidSession(pack, lookup.refusal ?? undefined)
  }

  async #lookup(
    cookie: string,
    verify: Extract<CompiledSession['verify'], { by: 'introspection' }>,
    note?: NoteDegraded,
    maxAgeMs?: number,
  ): Promise<Lookup> {
    const key = `${verify.endpoint}\n${await sha256Hex(cookie)}`
    const cached = this.#cache.get(key)
    if (cached !== undefined && !(cached.kind === 'ok' && outlived(cached.value, Date.now(), maxAgeMs))) {
      // An answer the failing app could not have confirmed now (issue 17, item 3).
      if (cached.kind === 'ok' && this.#failing !== null && note) {
        note({
          kind: 'session_cached',
          source: this.#endpointOrigin,
          stale_for: ageSeconds(cached.value.at, Date.now()),
          problem: this.#failing,
        })
      }
      return cached
    }
    // Only the session cookie goes to the app: none of the caller's other cookies or headers.
    const answered = await fetchJson(
      'session endpoint',
      verify.endpoint,
      { headers: { cookie, accept: 'application/json' } },
      verify.timeoutMs,
    )
    let answer: Lookup
    let ttlMs = verify.negativeTtlMs
    this.#failing = null
    if (answered.kind !== 'ok') {
      // 401/403: the app says the cookie names no session; anything else is the app failing.
      if (answered.kind === 'unavailable' || (answered.refusal.status !== 401 && answered.refusal.status !== 403)) {
        const failure = unavailable(answered.kind === 'unavailable' ? answered.problem : answered.refusal.problem)
        this.#failing = failure.problem
        this.#cache.set(key, failure, ENDPOINT_FAILURE_COOLDOWN_MS)
        return failure
      }
      answer = REFUSED
    } else {
      // Better Auth answers `null` for a cookie that names no live session.
      const authentication = isJsonObject(answered.value)
        ? mapClaims(verify.claims, answered.value, { method: 'session' })
        : null
      const now = Date.now()
      const expiresAt = sessionExpiresAt(answered.value)
      if (authentication === null) answer = REFUSED
      else if (typeof authentication === 'string') answer = refused(authentication)
      // The app's own word says the session has ended: no session, whatever else it answered.
      else if (expiresAt !== null && now >= expiresAt) answer = REFUSED
      else {
        answer = ok({ authentication: frozen(authentication), at: now, expiresAt })
        // Remembered until the session ends at the latest, as introspection answers are until `exp` (rt9 F5).
        ttlMs = expiresAt === null ? verify.cacheTtlMs : Math.min(verify.cacheTtlMs, expiresAt - now)
      }
    }
    this.#cache.set(key, answer, ttlMs)
    return answer
  }
}

/**
 * A remembered session that may not decide: past the session's own end (the cache's TTL is
 * capped there already; this holds at the boundary too), or older than a recheck allows.
 */
function outlived(value: { at: number; expiresAt: number | null }, now: number, maxAgeMs?: number): boolean {
  return (value.expiresAt !== null && now >= value.expiresAt) || (maxAgeMs !== undefined && now - value.at >= maxAgeMs)
}

function invalidSession(pack: CompiledPack, problem?: UnmappedClaims): AuthnResult {
  return reject({ reason: 'session_invalid', accepted: pack.auth, ...(problem !== undefined ? { problem } : {}) })
}
