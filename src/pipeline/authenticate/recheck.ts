/**
 * Rechecks of the credential behind an open stream (issue 15): what the authenticator answers
 * when asked again, sorted into "still valid", "revoked" (the stream must end) and "could not be
 * answered" (the pack's `streams.on_error` decides). The stream's invoker must stay the one it
 * opened as: the same credential naming someone else now is a revocation too.
 *
 * @module
 */
import { detailOf } from '../../errors/problem.ts'
import type { Reason } from '../../errors/reasons.ts'
import type { Authentication } from '../../invoker.ts'
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

export function judgeFailure(reason: Reason): RecheckResult {
  if (UNAVAILABLE.has(reason.reason))
    return unavailable('problem' in reason && typeof reason.problem === 'string' ? reason.problem : reason.reason)
  return refused({ code: reason.reason, detail: detailOf(reason) })
}
