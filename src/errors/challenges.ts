/**
 * `WWW-Authenticate` (RFC 9110 §11.6.1) and `Accept-Signature` for a 401: what the error
 * renderer adds to a problem so that the client knows how to authenticate.
 *
 * @module
 */
import type { AcceptedMethod } from '../policy/types.ts'

const REALM = 'invoker-gateway'
/** The admin endpoint is another protection space (RFC 9110 §11.5): its token opens no pack. */
const ADMIN_REALM = 'invoker-gateway-admin'

/** RFC 6750 §3 parameters of a Bearer challenge. */
export interface BearerParameters {
  bearerError?: 'invalid_token' | 'invalid_request' | 'insufficient_scope'
  /** RFC 6750 §3 `error_description`: for the developer of the client, never a credential. */
  bearerDescription?: string
  /** RFC 6750 §3 `scope`: what an insufficient_scope answer needs. */
  scope?: string
}

/**
 * What a pack's 401s carry beyond the problem, attached by the step that knows it
 * (authenticate): the context of its `WWW-Authenticate` challenges and, for a pack that takes
 * signed requests, its `Accept-Signature` (RFC 9421 §5.1), made for the request at hand.
 */
export interface Challenge {
  context: ChallengeContext
  acceptSignature: (() => string) | null
}

/** What a challenge names beyond the method: the session cookie a session pack reads. */
export interface ChallengeContext {
  sessionCookie: string | null
  /**
   * MCP packs (MCP 2025-11-25 "Authorization"): the Bearer challenge names the pack's Protected
   * Resource Metadata (RFC 9728 §5.1) and the scopes it needs, and comes first.
   */
  mcp?: { resourceMetadata: string; scope: string | null }
}

/**
 * `WWW-Authenticate` challenges (RFC 9110 §11.6.1) for the methods a pack accepts, one per
 * method and only those:
 *
 * - `bearer`: `Bearer` with the RFC 6750 §3 parameters;
 * - `api_key`: `ApiKey` (no registered scheme; the name the header and `Authorization: ApiKey` use);
 * - `session`: `Cookie` with the cookie's name (the scheme of draft-broyer-http-cookie-auth:
 *   the credential travels in a cookie that the app sets);
 * - `envelope`: `Signature` (RFC 9421 registers no scheme; the name draft-cavage-http-signatures
 *   gave it), next to the `Accept-Signature` field that says what to sign.
 *
 * The admin endpoint names its own realm. Descriptions, scopes and cookie names are the gateway's
 * own text (cookie names are RFC 6265 tokens), quoted safely as they contain no `"` or `\\`.
 */
export function challenges(
  accepted: AcceptedMethod[] | 'admin',
  wire: BearerParameters = {},
  context: ChallengeContext = { sessionCookie: null },
): string[] {
  if (accepted === 'admin') return [`Bearer realm="${ADMIN_REALM}"`]
  const out: string[] = []
  const error = wire.bearerError ? `, error="${wire.bearerError}"` : ''
  const mcp = context.mcp
  // The official MCP SDK client reads the first challenge only: on an MCP pack, Bearer leads.
  const ordered =
    mcp && accepted[0] !== 'bearer' && accepted.includes('bearer')
      ? ['bearer' as const, ...accepted.filter((m) => m !== 'bearer')]
      : accepted
  for (const method of ordered) {
    switch (method) {
      case 'api_key':
        out.push(`ApiKey realm="${REALM}"${error}`)
        break
      case 'bearer': {
        let bearer = `Bearer realm="${REALM}"${mcp ? `, resource_metadata="${mcp.resourceMetadata}"` : ''}${error}`
        if (wire.bearerDescription) bearer += `, error_description="${wire.bearerDescription}"`
        // An MCP client asks for exactly the scopes a challenge names (2025-11-25 "Scope Challenge
        // Handling"), so it is given the whole set the pack needs, not only what is missing.
        const scope = mcp?.scope ?? wire.scope
        if (scope) bearer += `, scope="${scope}"`
        out.push(bearer)
        break
      }
      case 'session':
        out.push(
          `Cookie realm="${REALM}"${context.sessionCookie !== null ? `, cookie-name="${context.sessionCookie}"` : ''}`,
        )
        break
      case 'envelope':
        out.push(`Signature realm="${REALM}"`)
        break
    }
  }
  return out
}
