/**
 * Opaque access tokens (RFC 7662): the issuer's introspection endpoint says whether a token is
 * active and what it stands for. Answers are cached by a digest of the token, an active one
 * never past the token's `exp`, so a busy caller costs one introspection per TTL, not per
 * request. A failing endpoint is "unavailable" (503), never "valid" and never cached.
 *
 * @module
 */
import { namedSecret, type Bindings } from '../../../env.ts'
import { sha256Hex } from '../../../keys/digest.ts'
import type { CompiledIssuer } from '../../../policy/types.ts'
import { AnswerCache } from '../answer-cache.ts'
import type { Claims } from '../claims.ts'
import { fetchJson, isJsonObject } from '../fetch-json.ts'

export type IntrospectionOutcome =
  | { ok: true; claims: Claims }
  | { ok: false; problem: 'inactive' | 'audience' | 'issuer_unknown' | 'expired' | 'not_yet_valid' }
  | { ok: false; unavailable: string }

type Answer = Extract<IntrospectionOutcome, { ok: true }> | Extract<IntrospectionOutcome, { problem: string }>

export class Introspector {
  readonly #cache = new AnswerCache<Answer>()

  async introspect(token: string, issuer: CompiledIssuer, env: Bindings): Promise<IntrospectionOutcome> {
    const config = issuer.introspection
    if (config === null) return { ok: false, problem: 'inactive' }
    const digest = await sha256Hex(token)
    const cached = this.#cache.get(digest)
    if (cached !== undefined) return cached
    const secret = namedSecret(env, config.clientSecretName)
    if (secret === null) return { ok: false, unavailable: `Worker secret ${config.clientSecretName} is not set` }

    const answered = await fetchJson(
      'introspection',
      config.endpoint,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          // RFC 6749 §2.3.1: client id and secret are form-encoded before they are joined.
          authorization: 'Basic ' + btoa(`${formEncode(config.clientId)}:${formEncode(secret)}`),
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
      },
      config.timeoutMs,
    )
    if (!answered.ok && answered.status === 400) {
      // The provider refuses to look at this token at all (oidc-provider does so for JWT-shaped
      // strings): whatever it is, it is no token of this issuer.
      const answer: Answer = { ok: false, problem: 'inactive' }
      this.#cache.set(digest, answer, config.negativeTtlMs)
      return answer
    }
    // 401/403 mean the gateway's own client credentials are wrong: an operator's problem, not the caller's.
    if (!answered.ok) return { ok: false, unavailable: answered.problem }
    if (!isJsonObject(answered.json)) return { ok: false, unavailable: 'introspection answered no JSON object' }
    const claims: Claims = answered.json
    const now = Date.now()
    const answer = judge(claims, issuer, now / 1000)
    const exp = typeof claims['exp'] === 'number' ? claims['exp'] * 1000 : Infinity
    this.#cache.set(digest, answer, answer.ok ? Math.min(config.cacheTtlMs, exp - now) : config.negativeTtlMs, now)
    return answer
  }
}

function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+')
}

/**
 * An active answer must also be meant for this gateway: its issuer (when given) and its audience
 * are checked as for a JWT, so a token the provider issued to another API is not accepted here.
 */
function judge(claims: Claims, issuer: CompiledIssuer, nowSeconds: number): Answer {
  if (claims['active'] !== true) return { ok: false, problem: 'inactive' }
  if (claims['iss'] !== undefined && claims['iss'] !== issuer.issuer) return { ok: false, problem: 'issuer_unknown' }
  const aud = claims['aud']
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : []
  if (!audiences.some((a) => issuer.audiences.includes(a as string))) return { ok: false, problem: 'audience' }
  const tolerance = issuer.clockToleranceSeconds
  if (typeof claims['exp'] === 'number' && nowSeconds - tolerance >= claims['exp']) return { ok: false, problem: 'expired' }
  if (typeof claims['nbf'] === 'number' && nowSeconds + tolerance < claims['nbf']) return { ok: false, problem: 'not_yet_valid' }
  return { ok: true, claims }
}
