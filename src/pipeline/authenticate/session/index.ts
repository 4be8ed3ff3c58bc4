/**
 * Browser sessions (SPEC §3): a cookie named in policy, verified either as a JWT of a configured
 * issuer or by asking the app that set it (e.g. Better Auth's `GET /api/auth/get-session`). The
 * app's answers are cached by a digest of the cookie for a short TTL (refusals too): a cookie
 * signed out at the app stops working at most `cache_ttl` later.
 *
 * @module
 */
import type { Bindings } from '../../../env.ts'
import { sha256Hex } from '../../../keys/digest.ts'
import type { CompiledPack, CompiledSession } from '../../../policy/types.ts'
import { AnswerCache } from '../answer-cache.ts'
import type { BearerVerifier } from '../bearer/index.ts'
import { mapClaims, type Claims, type UnmappedClaims } from '../claims.ts'
import { fetchJson, isJsonObject } from '../fetch-json.ts'
import type { AuthnResult } from '../result.ts'

type Lookup = { ok: true; claims: Claims } | { ok: false; refused: true } | { ok: false; unavailable: string }

export class SessionVerifier {
  readonly #session: CompiledSession
  readonly #bearer: BearerVerifier
  readonly #cache = new AnswerCache<Extract<Lookup, { ok: true } | { refused: true }>>()

  constructor(session: CompiledSession, bearer: BearerVerifier) {
    this.#session = session
    this.#bearer = bearer
  }

  async verify(cookie: { name: string; value: string }, pack: CompiledPack, env: Bindings): Promise<AuthnResult> {
    const verify = this.#session.verify
    if (verify.by === 'jwt') {
      const outcome = await this.#bearer.verifyJwt(cookie.value, new Set([verify.issuer]), env)
      if (outcome.ok) {
        const authentication = mapClaims(verify.claims, outcome.claims, { method: 'session', issuer: verify.issuer })
        if (typeof authentication !== 'string') return { kind: 'ok', authentication }
        return refused(pack, authentication)
      }
      if ('unavailable' in outcome) return { kind: 'reject', reason: { reason: 'session_unavailable', problem: outcome.unavailable } }
      return refused(pack)
    }
    const lookup = await this.#lookup(`${cookie.name}=${cookie.value}`, verify)
    if (!lookup.ok) {
      if ('unavailable' in lookup) return { kind: 'reject', reason: { reason: 'session_unavailable', problem: lookup.unavailable } }
      return refused(pack)
    }
    const authentication = mapClaims(verify.claims, lookup.claims, { method: 'session' })
    return typeof authentication === 'string' ? refused(pack, authentication) : { kind: 'ok', authentication }
  }

  async #lookup(cookie: string, verify: Extract<CompiledSession['verify'], { by: 'introspection' }>): Promise<Lookup> {
    const digest = await sha256Hex(cookie)
    const cached = this.#cache.get(digest)
    if (cached !== undefined) return cached
    // Only the session cookie goes to the app: none of the caller's other cookies or headers.
    const answered = await fetchJson('session endpoint', verify.endpoint, { headers: { cookie, accept: 'application/json' } }, verify.timeoutMs)
    let answer: Extract<Lookup, { ok: true } | { refused: true }>
    if (!answered.ok) {
      if (answered.status !== 401 && answered.status !== 403) return { ok: false, unavailable: answered.problem }
      answer = { ok: false, refused: true }
    } else {
      // Better Auth answers `null` for a cookie that names no live session.
      answer = isJsonObject(answered.json) ? { ok: true, claims: answered.json } : { ok: false, refused: true }
    }
    this.#cache.set(digest, answer, answer.ok ? verify.cacheTtlMs : verify.negativeTtlMs)
    return answer
  }
}

function refused(pack: CompiledPack, problem?: UnmappedClaims): AuthnResult {
  return { kind: 'reject', reason: { reason: 'session_invalid', accepted: pack.auth, ...(problem !== undefined ? { problem } : {}) } }
}
