/**
 * Routing: host + normalized path → pack, then path inside the pack → agent. Pure: the compiled
 * packs and a URL in, a match or a reason out. Packs cannot overlap (the build refuses it), so
 * the first match is the only match.
 *
 * @module
 */
import type { CompiledAgent, CompiledPack } from '../../policy/types.ts'
import { ambiguity, normalizePath, pathSegments } from './normalize-path.ts'
import { matchesPattern } from './path-pattern.ts'

export interface RouteMatch {
  pack: CompiledPack
  agent: CompiledAgent | null
  /** The path the backend receives (prefix stripped unless the pack says not to). */
  upstreamPath: string
  /** Upstream URL without query: the `htu` claim. */
  upstreamUrl: string
  /** Query including `?` as the URL parser serialized it, or ''. Forwarded as is; no decision reads it. */
  query: string
}

export type RouteResult = { ok: true; match: RouteMatch } | { ok: false; notFound: true } | { ok: false; notFound: false; problem: string }

export function matchRoute(packs: readonly CompiledPack[], url: URL): RouteResult {
  const normalized = normalizePath(url.pathname)
  if (!normalized.ok) return { ok: false, notFound: false, problem: normalized.problem }
  const path = normalized.path
  const host = url.host.toLowerCase()
  const hostname = url.hostname.toLowerCase()
  for (const pack of packs) {
    if (pack.host !== null && pack.host !== host && pack.host !== hostname) continue
    const prefix = pack.pathPrefix
    if (prefix !== '' && !(path === prefix || path.startsWith(prefix + '/'))) continue
    const stripped = pack.stripPrefix ? path.slice(prefix.length) || '/' : path
    const upstreamPath = stripped.startsWith('/') ? stripped : '/' + stripped
    if (pack.strictPaths) {
      const problem = ambiguity(upstreamPath)
      if (problem !== null) return { ok: false, notFound: false, problem }
    }
    return {
      ok: true,
      match: {
        pack,
        agent: matchAgent(pack.agents, upstreamPath),
        upstreamPath,
        upstreamUrl: pack.upstream + upstreamPath,
        query: url.search,
      },
    }
  }
  return { ok: false, notFound: true }
}

function matchAgent(agents: readonly CompiledAgent[], path: string): CompiledAgent | null {
  if (agents.length === 0) return null
  const segments = pathSegments(path.toLowerCase())
  for (const agent of agents) if (matchesPattern(agent.pattern, segments)) return agent
  return null
}
