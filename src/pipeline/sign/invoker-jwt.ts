/**
 * The X-Invoker token (SPEC §6): a compact JWS, `typ: invoker+jwt`, bound to one request by
 * `jti` (the request id) and to its method and upstream URL by `htm`/`htu`, as DPoP binds a
 * proof. Gateway-owned claims are written after the invoker's data, so nothing a policy or an
 * identity provider puts in `meta` can shadow them.
 *
 * @module
 */
import { CompactSign } from 'jose'
import { INVOKER_TOKEN_TYPE } from '../../constants.ts'
import type { AuthFacts, Invoker } from '../../invoker.ts'
import type { SigningKeySet } from '../../keys/signing-keys.ts'

export interface InvokerClaims {
  iss: string
  aud: string
  sub: string
  iat: number
  exp: number
  jti: string
  invoker: Invoker
  auth: AuthFacts
  /** MCP packs: the JSON-RPC method of the request and, for tools/call, the tool. */
  mcp?: { method: string; tool?: string }
  htm: string
  htu: string
}

export interface TokenRequest {
  issuer: string
  audience: string
  ttlSeconds: number
  requestId: string
  invoker: Invoker
  auth: AuthFacts
  method: string
  upstreamUrl: string
  nowSeconds: number
  /** What an MCP request asks, when the gateway read it (a JSON-RPC response has no method). */
  mcp?: { method: string | null; tool: string | null } | undefined
}

export function invokerClaims(t: TokenRequest): InvokerClaims {
  const invoker: Invoker = { id: t.invoker.id, kind: t.invoker.kind, meta: t.invoker.meta }
  if (t.invoker.label !== undefined) invoker.label = t.invoker.label
  const claims: InvokerClaims = {
    invoker,
    auth: t.auth,
    iss: t.issuer,
    aud: t.audience,
    sub: t.invoker.id,
    iat: t.nowSeconds,
    exp: t.nowSeconds + t.ttlSeconds,
    jti: t.requestId,
    htm: t.method,
    htu: t.upstreamUrl,
  }
  if (t.mcp?.method != null) claims.mcp = t.mcp.tool !== null ? { method: t.mcp.method, tool: t.mcp.tool } : { method: t.mcp.method }
  return claims
}

const encoder = new TextEncoder()

/**
 * Signs with jose's `CompactSign` rather than `SignJWT`: the claims are built and typed here, so
 * `SignJWT`'s claim validation and defensive deep copy (a third of the signing cost in workerd)
 * would check nothing new.
 */
export function signInvokerToken(claims: InvokerClaims, keys: SigningKeySet): Promise<string> {
  const { signer } = keys
  return new CompactSign(encoder.encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: INVOKER_TOKEN_TYPE })
    .sign(signer.key)
}
