/**
 * Rechecks of the credential behind an open stream (issue 15): what the authenticator answers
 * when asked again, sorted into "still valid", "revoked" (the stream must end) and "could not be
 * answered" (the pack's `streams.on_error` decides). The stream's invoker must stay the one it
 * opened as: the same credential naming someone else now is a revocation too. A credential past
 * the expiry it carried when the stream opened is refused before its source is asked: that needs
 * no source, so a source that is down cannot keep an expired credential's stream open.
 *
 * @module
 */
import { detailOf } from '../../errors/problem.ts'
import type { Reason } from '../../errors/reasons.ts'
import type { Authentication } from '../../invoker.ts'
import type { AcceptedMethod } from '../../policy/types.ts'
import { ok, refused, unavailable } from '../../outcome.ts'
import type { RecheckResult } from '../../state.ts'
import type { AuthnResult } from './result.ts'

const VALID: RecheckResult = ok(null)

/** The reasons that say a source could not answer, not that the credential is bad. */
const UNAVAILABLE = new Set<Reason['reason']>([
  'issuer_unavailable',
  'session_unavailable',
  'store_unavailable',
  'envelope_unavailable',
  'signing_keys_unavailable',
])

export function judgeRecheck(result: AuthnResult, opened: Authentication, reportMode: boolean): RecheckResult {
  if (result.kind === 'ok') {
    if (result.value.authentication.invoker.id !== opened.invoker.id)
      return refused({ code: 'invoker_changed', detail: 'The credential behind this stream now names another caller.' })
    return VALID
  }
  // Report mode forwarded a caller refused for an authorization reason (a scope); the same
  // answer again changes nothing. An invalid credential ends the stream in both modes.
  const { reason, authentication } = result.refusal
  if (reportMode && authentication !== undefined && authentication.invoker.id === opened.invoker.id) return VALID
  return judgeFailure(reason)
}

/**
 * The refusal of a credential past its own expiry (expiry.ts): the one its authenticator gives
 * an expired credential, so a stream ended on it says what a recheck that asked would have said
 * (`api_key_expired`, `bearer_invalid` "expired", `session_invalid`).
 */
export function expiredReason(
  method: 'api_key' | 'bearer' | 'session',
  opened: Authentication,
  accepted: AcceptedMethod[],
): Reason {
  switch (method) {
    case 'api_key':
      return { reason: 'api_key_expired', key: opened.auth.api_key ?? opened.invoker.id, accepted }
    case 'bearer':
      return { reason: 'bearer_invalid', problem: 'expired', issuer: opened.auth.issuer ?? null, accepted }
    case 'session':
      return { reason: 'session_invalid', accepted }
  }
}

export function judgeFailure(reason: Reason): RecheckResult {
  if (UNAVAILABLE.has(reason.reason))
    return unavailable('problem' in reason && typeof reason.problem === 'string' ? reason.problem : reason.reason)
  return refused({ code: reason.reason, detail: detailOf(reason) })
}
