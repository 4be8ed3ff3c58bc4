/**
 * Whose token it is (RFC 8707 §2, MCP 2025-11-25 "Token Audience Binding and Validation"): a
 * token for an MCP pack's resource is accepted by that pack only, and an MCP pack accepts only
 * tokens issued for its resource. Checked on every use, like scopes, because one verified token
 * is reused across packs.
 *
 * @module
 */
import type { CompiledIssuer, CompiledPack } from '../../../policy/types.ts'

/** The token's `aud` values that the issuer's configuration knows (the rest decide nothing here). */
export function tokenAudiences(aud: unknown, issuer: CompiledIssuer): readonly string[] {
  const values = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : []
  return Object.freeze(
    values.filter((value): value is string => typeof value === 'string' && issuer.audiences.includes(value)),
  )
}

/**
 * An MCP pack: `aud` is its resource, exactly or as one element of a list. Any other pack: `aud`
 * names one of the issuer's own audiences (not only MCP packs' resources), so a token minted for
 * an MCP server is no pass to the rest of the gateway.
 */
export function audienceAccepted(audiences: readonly string[], issuer: CompiledIssuer, pack: CompiledPack): boolean {
  if (pack.mcp !== null) return audiences.includes(pack.mcp.resource)
  if (issuer.mcpResources.length === 0) return true
  return audiences.some((audience) => !issuer.mcpResources.includes(audience))
}
