/**
 * `explain`: the decision the gateway would take for a method, a URL and an invoker, with the
 * rule that made it. Runs the Worker's own routing, API-key decider (`judgeKeyRecord`), delegation
 * and `decide()`; only the proof of holding a credential is replaced by naming the invoker (an API
 * key by its policy name, an anonymous caller, a signer alone or acting for a user, or an invoker
 * as another method would produce it). Used by the CLI and by policy fixtures.
 *
 * @module
 */
import { statusOf } from '../errors/problem.ts'
import { parseClientAddress } from '../http/client-address.ts'
import type { EnvelopeProblem, Reason } from '../errors/reasons.ts'
import type { AuthMethod, Authentication, JsonValue } from '../invoker.ts'
import { judgeKeyRecord } from '../pipeline/authenticate/api-key.ts'
import { delegatedAuthentication, signerAuthentication } from '../pipeline/authenticate/envelope/delegation.ts'
import { decide, refusalFor, type Decision } from '../pipeline/authorize/decide.ts'
import { decideTool, toolRefusal } from '../pipeline/mcp/decide-tool.ts'
import { matchRoute } from '../pipeline/route/match.ts'
import type { CompiledPack, CompiledPolicy } from './types.ts'

export type InvokerSpec =
  | { api_key: string }
  | { anonymous: true; ip: string }
  /** A request signed by a signer of the policy, acting for a user when `on_behalf_of` is given. */
  | { signer: string; on_behalf_of?: string }
  | {
      id: string
      kind: string
      label?: string
      meta: Record<string, unknown>
      method: Exclude<AuthMethod, 'anonymous' | 'api_key'>
    }

export interface Explanation {
  decision: 'allow' | 'deny' | 'report' | 'unauthenticated' | 'not_found' | 'bad_request'
  status: number
  pack: string | null
  agent: string | null
  reason: Reason['reason'] | 'allowed'
  rule: string | null
  upstreamUrl: string | null
  invoker: Authentication | null
}

/** `tool`: on an MCP pack, the request is a `tools/call` of that tool. */
export function explain(
  policy: CompiledPolicy,
  request: { method: string; url: string; tool?: string | undefined },
  who: InvokerSpec,
  nowSeconds: number,
): Explanation {
  const method = request.method.toUpperCase()
  const routed = matchRoute(policy.packs, new URL(request.url))
  if (!routed.ok) {
    const reason: Reason = routed.notFound
      ? { reason: 'route_not_found' }
      : { reason: 'bad_path', problem: routed.problem }
    return outcome(routed.notFound ? 'not_found' : 'bad_request', reason, null)
  }
  const { pack, agent, upstreamUrl } = routed.match
  const base = { pack: pack.id, agent: agent?.name ?? null, upstreamUrl }
  let authn = authenticate(policy, pack, who, nowSeconds)
  // Report mode forwards a caller without a credential as anonymous, as the Worker does.
  let wouldDeny: Reason | null = null
  if ('reason' in authn && authn.reason === 'credential_missing' && pack.mode === 'report' && 'anonymous' in who) {
    wouldDeny = authn
    authn = anonymousFor(who.ip, pack)
  }
  if ('reason' in authn) return { ...outcome('unauthenticated', authn, null), ...base }
  let decision: Decision = decide(pack, agent, authn, method)
  const refusal = refusalFor(pack, agent, authn, decision)
  if (refusal && pack.mode !== 'report') {
    const kind = refusal.reason === 'denied' ? 'deny' : 'unauthenticated'
    return { ...outcome(kind, refusal, authn), ...base, rule: decision.rule }
  }
  wouldDeny ??= refusal
  const tools = pack.mcp?.tools
  if (tools && request.tool !== undefined) {
    const toolDecision = decideTool(tools, authn, request.tool)
    if (!toolDecision.allowed) {
      const reason = toolRefusal(toolDecision, request.tool, null)
      if (pack.mode === 'enforce') return { ...outcome('deny', reason, authn), ...base, rule: toolDecision.rule }
      wouldDeny ??= reason
    }
    if (decision.allowed) decision = toolDecision
  }
  return {
    decision: wouldDeny === null ? 'allow' : 'report',
    status: 200,
    ...base,
    reason: wouldDeny?.reason ?? 'allowed',
    rule: decision.rule,
    invoker: authn,
  }
}

/**
 * Explain has no signing key, so it names the address's key (the address as the Worker reads it:
 * an IPv4 address, an IPv6 address's /64); the Worker uses a keyed hash of that same key. A value
 * that is no address is no anonymous caller, as in the Worker.
 */
function anonymousFor(ip: string, pack: CompiledPack): Authentication | Reason {
  const address = parseClientAddress(ip.trim())
  if (address === null) return { reason: 'no_client_address', accepted: pack.auth }
  return { invoker: { id: `anon:${address.key}`, kind: 'anonymous', meta: {} }, auth: { method: 'anonymous' } }
}

function outcome(decision: Explanation['decision'], reason: Reason, invoker: Authentication | null): Explanation {
  return {
    decision,
    status: statusOf(reason),
    pack: null,
    agent: null,
    reason: reason.reason,
    rule: null,
    upstreamUrl: null,
    invoker,
  }
}

function authenticate(
  policy: CompiledPolicy,
  pack: CompiledPack,
  who: InvokerSpec,
  nowSeconds: number,
): Authentication | Reason {
  const accepted = pack.auth
  if ('api_key' in who) {
    if (!accepted.includes('api_key')) return { reason: 'method_not_accepted', method: 'api_key', accepted }
    const record = Object.values(policy.apiKeys).find((r) => r.name === who.api_key)
    if (!record) return { reason: 'api_key_unknown', keyId: who.api_key, accepted }
    // The Worker's own decider, past the proof of holding the key that explain stands in for.
    const judged = judgeKeyRecord(record, pack, nowSeconds)
    return judged.kind === 'ok' ? judged.value.authentication : judged.refusal.reason
  }
  if ('anonymous' in who) {
    if (!pack.anonymous) return { reason: 'credential_missing', accepted }
    return anonymousFor(who.ip, pack)
  }
  if ('signer' in who) {
    if (!accepted.includes('envelope')) return { reason: 'method_not_accepted', method: 'envelope', accepted }
    const signer = policy.signers[who.signer]
    const refused = (problem: EnvelopeProblem): Reason => ({
      reason: 'envelope_invalid',
      problem,
      signer: who.signer,
      accepted,
    })
    if (signer === undefined || !pack.envelope.signers.includes(signer.name)) return refused('signer_unknown')
    if (who.on_behalf_of === undefined) return signerAuthentication(signer.name, signer.invoker)
    const delegated = delegatedAuthentication(signer, who.on_behalf_of, policy.envelope.reservedUserPrefixes)
    return typeof delegated === 'string' ? refused(delegated) : delegated
  }
  if (!accepted.includes(who.method)) return { reason: 'method_not_accepted', method: who.method, accepted }
  const invoker = {
    id: who.id,
    kind: who.kind,
    meta: who.meta as Record<string, JsonValue>,
    ...(who.label !== undefined ? { label: who.label } : {}),
  }
  return { invoker, auth: { method: who.method } }
}
