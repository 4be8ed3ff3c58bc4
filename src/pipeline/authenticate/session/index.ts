/**
 * Browser sessions (SPEC §3): a cookie named in policy, verified either as a JWT of a configured
 * issuer or by asking the app that set it (e.g. Better Auth's `GET /api/auth/get-session`). The
 * app's answers are cached, as the invoker they map to, by the endpoint and a digest of the
 * cookie for a short TTL (refusals too): a cookie signed out at the app stops working at most
 * `cache_ttl` later. A failing endpoint is remembered for the cookie that met it for
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
import { fetchJson, isJsonObject } from '../fetch-json.ts'
import type { AuthnResult } from '../result.ts'

/** `at`: when the app gave the answer (its age, when it comes from the cache). */
type Lookup = { ok: true; authentication: Authentication; at: number } | { ok: false; refused: true; problem?: UnmappedClaims } | { ok: false; unavailable: string }

const REFUSED: Lookup = { ok: false, refused: true }

function lookupBytes(lookup: Lookup): number {
  if (lookup.ok) return jsonBytes(lookup.authentication)
  return 'unavailable' in lookup ? lookup.unavailable.length * 2 : 0
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
    this.#jwtUse = { name: 'session', map: (issuer, claims) => mapClaims(verify.claims, claims, { method: 'session', issuer: issuer.name }) }
  }

  /** `maxAgeMs`: the oldest remembered answer of the app that may decide (a stream's recheck). */
  async verify(cookie: { name: string; value: string }, pack: CompiledPack, env: Bindings, note?: NoteDegraded, maxAgeMs?: number): Promise<AuthnResult> {
    const verify = this.#session.verify
    if (verify.by === 'jwt') {
      const outcome = await this.#bearer.verifyJwt(cookie.value, this.#jwtIssuers, env, this.#jwtUse, note)
      if (outcome.ok) {
        return audienceAccepted(outcome.granted.audiences, outcome.issuer, pack) ? { kind: 'ok', authentication: outcome.granted.authentication } : refused(pack)
      }
      if ('unavailable' in outcome) return { kind: 'reject', reason: { reason: 'session_unavailable', problem: outcome.unavailable } }
      return refused(pack, outcome.problem === 'claim_too_large' || outcome.problem === 'id_reserved' ? outcome.problem : undefined)
    }
    const lookup = await this.#lookup(`${cookie.name}=${cookie.value}`, verify, note, maxAgeMs)
    if (lookup.ok) return { kind: 'ok', authentication: lookup.authentication }
    if ('unavailable' in lookup) return { kind: 'reject', reason: { reason: 'session_unavailable', problem: lookup.unavailable } }
    return refused(pack, lookup.problem)
  }

  async #lookup(cookie: string, verify: Extract<CompiledSession['verify'], { by: 'introspection' }>, note?: NoteDegraded, maxAgeMs?: number): Promise<Lookup> {
    const key = `${verify.endpoint}\n${await sha256Hex(cookie)}`
    const cached = this.#cache.get(key)
    if (cached !== undefined && !(cached.ok && maxAgeMs !== undefined && Date.now() - cached.at >= maxAgeMs)) {
      // An answer the failing app could not have confirmed now (issue 17, item 3).
      if (cached.ok && this.#failing !== null && note) {
        note({ kind: 'session_cached', source: this.#endpointOrigin, stale_for: ageSeconds(cached.at, Date.now()), problem: this.#failing })
      }
      return cached
    }
    // Only the session cookie goes to the app: none of the caller's other cookies or headers.
    const answered = await fetchJson('session endpoint', verify.endpoint, { headers: { cookie, accept: 'application/json' } }, verify.timeoutMs)
    let answer: Lookup
    this.#failing = null
    if (!answered.ok) {
      if (answered.status !== 401 && answered.status !== 403) {
        this.#failing = answered.problem
        const failure: Lookup = { ok: false, unavailable: answered.problem }
        this.#cache.set(key, failure, ENDPOINT_FAILURE_COOLDOWN_MS)
        return failure
      }
      answer = REFUSED
    } else {
      // Better Auth answers `null` for a cookie that names no live session.
      const authentication = isJsonObject(answered.json) ? mapClaims(verify.claims, answered.json, { method: 'session' }) : null
      answer =
        authentication === null
          ? REFUSED
          : typeof authentication === 'string'
            ? { ok: false, refused: true, problem: authentication }
            : { ok: true, authentication: frozen(authentication), at: Date.now() }
    }
    this.#cache.set(key, answer, answer.ok ? verify.cacheTtlMs : verify.negativeTtlMs)
    return answer
  }
}

function refused(pack: CompiledPack, problem?: UnmappedClaims): AuthnResult {
  return { kind: 'reject', reason: { reason: 'session_invalid', accepted: pack.auth, ...(problem !== undefined ? { problem } : {}) } }
}
