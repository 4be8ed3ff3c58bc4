/**
 * Opaque access tokens (RFC 7662): the issuer's introspection endpoint says whether a token is
 * active and what it stands for. Answers are cached, an active one never past the token's `exp`,
 * so a busy caller costs one introspection per TTL, not per request.
 *
 * A cached answer is keyed by everything that decided it: the issuer (whose endpoint, client,
 * `iss`, audiences, clock tolerance and claim mapping judged the answer) and a digest of the
 * token. An issuer's answer therefore never speaks for another issuer, whichever pack asks.
 *
 * A failing endpoint is "unavailable" (503), never "valid"; the failure is remembered for the
 * token that met it for {@link ENDPOINT_FAILURE_COOLDOWN_MS}, so a client retrying at once does
 * not hit a failing endpoint on every request.
 *
 * @module
 */
import { ENDPOINT_FAILURE_COOLDOWN_MS } from '../../../constants.ts'
import { ageSeconds, type NoteDegraded } from '../../../degraded.ts'
import { namedSecret, type Bindings } from '../../../env.ts'
import { sha256Hex } from '../../../keys/digest.ts'
import { ok, refused, unavailable, type Outcome } from '../../../outcome.ts'
import type { CompiledIssuer } from '../../../policy/types.ts'
import { AnswerCache } from '../answer-cache.ts'
import { grantedScopes, mapClaims, type Claims, type UnmappedClaims } from '../claims.ts'
import { introspectedExpiresAt } from '../expiry.ts'
import { fetchJson, isJsonObject } from '../fetch-json.ts'
import { tokenAudiences } from './audience.ts'
import { frozen, grantedBytes, type Granted } from './granted.ts'

export type IntrospectionProblem =
  | 'inactive'
  | 'audience'
  | 'issuer_unknown'
  | 'expired'
  | 'not_yet_valid'
  | 'issued_in_future'
  | 'issued_after_expiry'
  | UnmappedClaims

/** `at`: when the endpoint gave the answer (its age, when it comes from the cache). */
export type IntrospectionOutcome = Outcome<{ granted: Granted; at: number }, IntrospectionProblem>

const INACTIVE: IntrospectionOutcome = refused('inactive')

function outcomeBytes(outcome: IntrospectionOutcome): number {
  if (outcome.kind === 'ok') return grantedBytes(outcome.value.granted)
  return outcome.kind === 'unavailable' ? outcome.problem.length * 2 : 0
}

export class Introspector {
  readonly #cache = new AnswerCache<IntrospectionOutcome>(outcomeBytes)
  /** Endpoints whose last call failed, until one answers again (one entry per issuer at most). */
  readonly #failing = new Map<string, string>()

  /** `maxAgeMs`: the oldest remembered active answer that may decide (a stream's recheck). */
  async introspect(
    token: string,
    issuer: CompiledIssuer,
    env: Bindings,
    note?: NoteDegraded,
    maxAgeMs?: number,
  ): Promise<IntrospectionOutcome> {
    const config = issuer.introspection
    if (config === null) return INACTIVE
    const key = `${issuer.name}\n${config.endpoint}\n${config.clientId}\n${await sha256Hex(token)}`
    const cached = this.#cache.get(key)
    if (
      cached !== undefined &&
      !(cached.kind === 'ok' && maxAgeMs !== undefined && Date.now() - cached.value.at >= maxAgeMs)
    ) {
      // An answer the failing endpoint could not have confirmed now (issue 17, item 3).
      const failing = this.#failing.get(config.endpoint)
      if (cached.kind === 'ok' && failing !== undefined && note) {
        note({
          kind: 'introspection_cached',
          source: issuer.name,
          stale_for: ageSeconds(cached.value.at, Date.now()),
          problem: failing,
        })
      }
      return cached
    }
    const secret = namedSecret(env, config.clientSecretName)
    if (secret === null) return unavailable(`Worker secret ${config.clientSecretName} is not set`)

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
    const status400 = answered.kind === 'refused' && answered.refusal.status === 400
    if (answered.kind === 'ok' || status400) this.#failing.delete(config.endpoint)
    if (status400) {
      // The provider refuses to look at this token at all (oidc-provider does so for JWT-shaped
      // strings): whatever it is, it is no token of this issuer.
      this.#cache.set(key, INACTIVE, config.negativeTtlMs)
      return INACTIVE
    }
    // 401/403 mean the gateway's own client credentials are wrong: an operator's problem, not the caller's.
    if (answered.kind !== 'ok' || !isJsonObject(answered.value)) {
      const failure = unavailable(
        answered.kind === 'ok'
          ? 'introspection answered no JSON object'
          : answered.kind === 'refused'
            ? answered.refusal.problem
            : answered.problem,
      )
      this.#failing.set(config.endpoint, failure.problem)
      this.#cache.set(key, failure, ENDPOINT_FAILURE_COOLDOWN_MS)
      return failure
    }
    const claims: Claims = answered.value
    const now = Date.now()
    const answer = judge(claims, issuer, now)
    const exp = typeof claims['exp'] === 'number' ? claims['exp'] * 1000 : Infinity
    this.#cache.set(key, answer, answer.kind === 'ok' ? Math.min(config.cacheTtlMs, exp - now) : config.negativeTtlMs)
    return answer
  }
}

function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+')
}

/**
 * An active answer must also be meant for this gateway: its issuer (when given) and its audience
 * are checked as for a JWT, so a token the provider issued to another API is not accepted here;
 * its times as for a JWT too (RFC 7519 §4.1.6: a token is not issued in the future, nor after it
 * expired). Only the mapped invoker and the granted scopes are kept, never the raw answer.
 */
function judge(claims: Claims, issuer: CompiledIssuer, now: number): IntrospectionOutcome {
  const nowSeconds = Math.floor(now / 1000)
  if (claims['active'] !== true) return INACTIVE
  if (claims['iss'] !== undefined && claims['iss'] !== issuer.issuer) return refused('issuer_unknown')
  const aud = claims['aud']
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : []
  if (!audiences.some((a) => issuer.audiences.includes(a as string))) return refused('audience')
  const tolerance = issuer.clockToleranceSeconds
  const { exp, nbf, iat } = claims
  if (typeof exp === 'number' && nowSeconds - tolerance >= exp) return refused('expired')
  if (typeof nbf === 'number' && nowSeconds + tolerance < nbf) return refused('not_yet_valid')
  if (typeof iat === 'number' && iat > nowSeconds + tolerance) return refused('issued_in_future')
  if (typeof iat === 'number' && typeof exp === 'number' && iat > exp) return refused('issued_after_expiry')
  const authentication = mapClaims(issuer.claims, claims, { method: 'bearer', issuer: issuer.name })
  if (typeof authentication === 'string') return refused(authentication)
  return ok({
    granted: {
      authentication: frozen(authentication),
      scopes: grantedScopes(claims),
      audiences: tokenAudiences(aud, issuer),
      expiresAt: introspectedExpiresAt(claims, issuer),
    },
    at: now,
  })
}
