/**
 * The X-Invoker token (SPEC §6): a compact JWS, `typ: invoker+jwt`, bound to one request by
 * `jti` (the request id) and to its method and upstream URL by `htm`/`htu`, as DPoP binds a
 * proof. Gateway-owned claims are written after the invoker's data, so nothing a policy or an
 * identity provider puts in `meta` can shadow them.
 *
 * @module
 */
import { base64url as joseBase64url } from 'jose'
import { INVOKER_TOKEN_TYPE } from '../../constants.ts'
import type { AuthFacts, Invoker } from '../../invoker.ts'
import type { SigningAlgorithm, SigningKeySet } from '../../keys/signing-keys.ts'

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
  mcp?: { method: string | null; tool: string | null } | null | undefined
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
  if (t.mcp?.method != null)
    claims.mcp = t.mcp.tool !== null ? { method: t.mcp.method, tool: t.mcp.tool } : { method: t.mcp.method }
  return claims
}

const encoder = new TextEncoder()

/** WebCrypto's parameters for each signing algorithm of the key set (RFC 7518 §3.1, RFC 8037 §3.1). */
const SUBTLE: Record<SigningAlgorithm, string | { name: string; hash: string }> = {
  EdDSA: 'Ed25519',
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
  HS256: 'HMAC',
}

/** The base64url protected header of each signing key, with its `.`: encoded once per key. */
const protectedHeaders = new WeakMap<SigningKeySet['signer'], string>()

/**
 * Signs with WebCrypto directly (RFC 7515 §5.1: `BASE64URL(header) . BASE64URL(payload)`, then
 * the signature over those bytes), not with jose's `CompactSign`: the protected header is the
 * same for every token of a key, so it is encoded once, and the claims are built and typed here,
 * so a general-purpose signer's checks and copies check nothing new. The bytes are those
 * `CompactSign` made (header members in the same order; test/vectors pins them), and jose still
 * imports the key and verifies tokens everywhere else.
 */
export async function signInvokerToken(claims: InvokerClaims, keys: SigningKeySet): Promise<string> {
  const { signer } = keys
  let header = protectedHeaders.get(signer)
  if (header === undefined) {
    header =
      base64url(encoder.encode(JSON.stringify({ alg: signer.alg, kid: signer.kid, typ: INVOKER_TOKEN_TYPE }))) + '.'
    protectedHeaders.set(signer, header)
  }
  const input = header + base64url(encoder.encode(JSON.stringify(claims)))
  const signature = await crypto.subtle.sign(SUBTLE[signer.alg], signer.key, encoder.encode(input))
  return input + '.' + base64url(new Uint8Array(signature))
}

type NativeBase64 = (this: Uint8Array, options: { alphabet: 'base64url'; omitPadding: boolean }) => string
const nativeBase64 = (Uint8Array.prototype as Uint8Array & { toBase64?: NativeBase64 }).toBase64

/**
 * RFC 4648 §5 without padding: the runtime's own `Uint8Array.prototype.toBase64` where it has
 * one (workerd's V8; TC39 "Uint8Array to/from base64", not in TypeScript's library yet), jose's
 * encoder elsewhere (Node 22, where the CLI and the conformance vectors sign).
 */
const base64url: (bytes: Uint8Array) => string =
  nativeBase64 === undefined
    ? (bytes) => joseBase64url.encode(bytes)
    : (bytes) => nativeBase64.call(bytes, { alphabet: 'base64url', omitPadding: true })
