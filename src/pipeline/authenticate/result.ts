import type { Authentication } from '../../invoker.ts'
import type { Reason } from '../../errors/reasons.ts'
import { refused, type Ok, type Refused } from '../../outcome.ts'
import type { ExpectedDigest } from './envelope/expected-digest.ts'

/** Who the caller is, once an authenticator admits it. */
export interface Admitted {
  authentication: Authentication
  /** Signed requests: the Content-Digest the body must match as it streams. */
  expectedDigest?: ExpectedDigest | null
  /**
   * When the credential stops being valid by its own terms (epoch ms, clock tolerance included),
   * when that is known as it is verified: an open stream ends then, whatever its source says
   * or fails to say (expiry.ts).
   */
  expiresAt?: number | null
}

/** An authenticator's refusal: the error the caller gets (a 401 or 403; a 503 when what decides could not answer). */
export interface Rejection {
  reason: Reason
  /**
   * Set when the caller was authenticated but is refused for an authorization reason (a token
   * without the pack's scopes): report mode forwards it as this invoker.
   */
  authentication?: Authentication
  /**
   * With `authentication`: the credential's own expiry, as {@link Admitted.expiresAt}. Report
   * mode forwards such a caller, and its stream must end at that expiry too (audit 2, #2).
   */
  expiresAt?: number | null
}

/**
 * What an authenticator answers (one {@link Outcome} shape; a source that could not answer is
 * already a refusal with its 503 reason here). "Presented and invalid → 401, never fall back" is
 * then one branch in `authenticate/index.ts`, not a convention each authenticator must remember.
 */
export type AuthnResult = Ok<Admitted> | Refused<Rejection>

export const reject = (
  reason: Reason,
  authentication?: Authentication,
  expiresAt: number | null = null,
): Refused<Rejection> => refused(authentication === undefined ? { reason } : { reason, authentication, expiresAt })
