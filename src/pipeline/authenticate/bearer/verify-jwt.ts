/**
 * Verifies a JWT from a configured issuer (RFC 8725 practices): the issuer is chosen by the
 * token's `iss` among those the pack accepts, and from then on only that issuer's keys,
 * algorithms, audience and clock tolerance are used. `exp` is required; `typ` is checked when
 * policy pins one; `crit` is refused unless understood (jose does that).
 *
 * @module
 */
import { decodeJwt, errors, jwtVerify, type JWTPayload, type JWTVerifyResult } from 'jose'
import { MAX_ISSUER_LENGTH, MIN_HMAC_KEY_BYTES } from '../../../constants.ts'
import type { Bindings } from '../../../env.ts'
import type { TokenProblem } from '../../../errors/reasons.ts'
import { ok, refused, unavailable, type Outcome } from '../../../outcome.ts'
import type { CompiledIssuer } from '../../../policy/types.ts'
import { KeySourceUnavailable, sharedSecret, type IssuerKeySource } from './issuer-keys.ts'

export type JwtProblem = Exclude<TokenProblem, 'inactive'>

/** Why a token is refused, and by which issuer's configuration (none when no issuer matched). */
export interface JwtRefusal<Problem = JwtProblem> {
  problem: Problem
  issuer: string | null
}

/** Unavailable: `source` names the issuer whose keys could not be had. */
export type JwtOutcome = Outcome<
  { issuer: CompiledIssuer; claims: JWTPayload; header: { alg: string; kid?: string } },
  JwtRefusal
>

/** A compact JWS has three base64url parts; anything else is not a JWT (maybe an opaque token). */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)
}

/** The unverified `iss`, read only to choose which configuration verifies the token. */
export function unverifiedIssuer(token: string): string | null {
  try {
    const iss = decodeJwt(token).iss
    return typeof iss === 'string' && iss.length <= MAX_ISSUER_LENGTH ? iss : null
  } catch {
    return null
  }
}

export async function verifyJwt(
  token: string,
  issuer: CompiledIssuer,
  source: IssuerKeySource,
  env: Bindings,
): Promise<JwtOutcome> {
  const options = {
    issuer: issuer.issuer,
    audience: issuer.audiences,
    algorithms: issuer.algorithms,
    clockTolerance: issuer.clockToleranceSeconds,
    requiredClaims: ['exp'],
    ...(issuer.typ !== null ? { typ: issuer.typ } : {}),
    ...(issuer.maxTokenAgeSeconds !== null ? { maxTokenAge: issuer.maxTokenAgeSeconds } : {}),
  }
  try {
    let verified: JWTVerifyResult
    if (source.kind === 'secret') {
      const secret = sharedSecret(env, source.secretName)
      if (secret === null) return unavailable(`Worker secret ${source.secretName} is not set`, issuer.name)
      // A short secret can be guessed offline from one token: it verifies nothing (RFC 7518 §3.2).
      if (secret.length < MIN_HMAC_KEY_BYTES)
        return unavailable(
          `Worker secret ${source.secretName} is shorter than ${MIN_HMAC_KEY_BYTES} bytes`,
          issuer.name,
        )
      verified = await jwtVerify(token, secret, options)
    } else {
      verified = await jwtVerify(token, source.getKey, options)
    }
    // jose checks `iat` only against a max_token_age. A token issued in the future (or after it
    // expires) is no token its issuer meant (RFC 7519 §4.1.6); it may be one minted ahead of
    // time to outlive a key or a revocation, so it is refused (RFC 8725 §3.10).
    const { iat, exp } = verified.payload
    if (typeof iat === 'number') {
      if (iat > Math.floor(Date.now() / 1000) + issuer.clockToleranceSeconds)
        return refused({ problem: 'issued_in_future', issuer: issuer.name })
      if (typeof exp === 'number' && iat > exp) return refused({ problem: 'issued_after_expiry', issuer: issuer.name })
    }
    const { alg, kid } = verified.protectedHeader
    return ok({
      issuer,
      claims: verified.payload,
      header: kid === undefined ? { alg: alg as string } : { alg: alg as string, kid },
    })
  } catch (error) {
    return failure(error, issuer.name)
  }
}

function failure(error: unknown, issuer: string): JwtOutcome {
  if (error instanceof errors.JWTExpired) return refused({ problem: 'expired', issuer })
  if (error instanceof errors.JWTClaimValidationFailed) return refused({ problem: claimProblem(error), issuer })
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported)
    return refused({ problem: 'algorithm', issuer })
  if (error instanceof errors.JWSSignatureVerificationFailed) return refused({ problem: 'signature', issuer })
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys)
    return refused({ problem: 'key_unknown', issuer })
  // The key source failing (the JWKS endpoint down, past its timeout, or answering something that
  // is not a key set) with no last good keys to fall back on: the token can be neither admitted
  // nor called invalid.
  if (error instanceof KeySourceUnavailable) return unavailable(error.message, issuer)
  if (error instanceof errors.JWKSTimeout) return unavailable('JWKS endpoint timed out', issuer)
  if (error instanceof errors.JWKSInvalid) return unavailable('JWKS endpoint sent no key set', issuer)
  // Anything else came from the token itself (bad JSON, bad base64, a key that does not fit).
  return refused({ problem: 'malformed', issuer })
}

/**
 * jose names the claim and why (`reason`): 'check_failed' for a value that fails its check,
 * 'missing' or 'invalid' for a claim that is absent (a required one, `iat` with a
 * max_token_age) or not of its type (`iat` or `nbf` that is no number). Only a failed time
 * check says the token is early; a missing or malformed time claim is a malformed claim set
 * (rt9 F7: it was told "The token is not valid yet.").
 */
function claimProblem(error: errors.JWTClaimValidationFailed): JwtProblem {
  const checked = error.reason === 'check_failed'
  switch (error.claim) {
    case 'aud':
      return 'audience'
    case 'nbf':
      return checked ? 'not_yet_valid' : 'claims'
    case 'iat':
      return checked ? 'issued_in_future' : 'claims'
    case 'typ':
      return 'type'
    case 'iss':
      return 'issuer_unknown'
    default:
      return 'claims'
  }
}
