import { GatewayError } from '../../errors/reasons.ts'
import type { Authenticated } from '../../state.ts'
import { decide, refusalFor } from './decide.ts'

/**
 * Step 3: apply the pack's and the agent's lists. In `mode: report` a denial is recorded (the
 * log line says `would_deny` and why) and the request goes on.
 */
export function authorize(s: Authenticated): Authenticated {
  const { pack, agent } = s.route
  const decision = decide(pack, agent, s.authentication, s.method)
  s.decision = decision
  const refusal = refusalFor(pack, agent, s.authentication, decision)
  if (refusal) {
    if (pack.mode !== 'report') throw new GatewayError(refusal)
    // The first reason wins: a caller forwarded without a credential stays `credential_missing`.
    s.wouldDeny ??= refusal
  }
  return s
}
