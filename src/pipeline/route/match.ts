/**
 * Routing: host + normalized path → pack, then path inside the pack → agent. Pure: the compiled
 * packs and a URL in, a match or a reason out. Packs cannot overlap (the build refuses it), so
 * the first match is the only match.
 *
 * @module
 */
import type { CompiledAgent, CompiledPack, RouteMatch } from '../../policy/types.ts'
import { ambiguity, type NormalizedPath, normalizePath, pathSegments } from './normalize-path.ts'
import { matchesPattern } from './path-pattern.ts'
import { prefixTable } from './table.ts'

export type { RouteMatch }

export type RouteResult =
  | { ok: true; match: RouteMatch }
  | { ok: false; notFound: true }
  | { ok: false; notFound: false; problem: string }

/**
 * @param prefixes the route table's pack prefixes (the gateway's is made by the build); made
 *   from `packs` when not given (the CLI).
 * @param normalized `url`'s path normalized, when the caller has done it already.
 */
export function matchRoute(
  packs: readonly CompiledPack[],
  url: URL,
  prefixes: Readonly<Record<string, readonly number[]>> = prefixTable(packs),
  normalized: NormalizedPath = normalizePath(url.pathname),
): RouteResult {
  if (!normalized.ok) return { ok: false, notFound: false, problem: normalized.problem }
  const path = normalized.path
  const host = url.host.toLowerCase()
  const hostname = url.hostname.toLowerCase()
  // The path's own prefixes, longest first: `/a/b/` tries `/a/b`, `/a`, then '' (a pack at the root).
  let prefix = path.endsWith('/') ? path.slice(0, -1) : path
  for (;;) {
    for (const index of prefixes[prefix] ?? []) {
      const pack = packs[index] as CompiledPack
      if (pack.host === null || hostMatches(pack.host, host, hostname)) return packMatch(pack, prefix, path, url)
    }
    if (prefix === '') return { ok: false, notFound: true }
    prefix = prefix.slice(0, prefix.lastIndexOf('/'))
  }
}

function packMatch(pack: CompiledPack, prefix: string, path: string, url: URL): RouteResult {
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

function matchAgent(agents: readonly CompiledAgent[], path: string): CompiledAgent | null {
  if (agents.length === 0) return null
  const segments = pathSegments(path).map(agentSegment)
  for (const agent of agents) if (matchesPattern(agent.pattern, segments)) return agent
  return null
}

/**
 * A request segment as agent patterns are compiled: percent-decoded, NFKC-normalized, then
 * lower-cased. Starlette, Flask, Django and Express route on the decoded path, so `/crm%3Aquery`
 * reaches the view of `/crm:query` and must meet its agent's lists (red team: the encoded
 * spelling skipped them); a backend that normalizes Unicode routes `cafe%CC%81` (NFD) as `café`,
 * and matching more spellings only narrows access. The normalizer already refused encoded `/`,
 * a backslash and NUL, and decoded the unreserved characters; what is left are reserved
 * characters and UTF-8 (raw non-ASCII never gets here: the URL parser encodes it). A segment that
 * is not valid UTF-8 stays as it is: no framework reads it as any pattern's text.
 */
function agentSegment(segment: string): string {
  if (!segment.includes('%')) return segment.toLowerCase()
  try {
    return decodeURIComponent(segment).normalize('NFKC').toLowerCase()
  } catch {
    return segment.toLowerCase()
  }
}

/**
 * A pack's `host` matches the request's host with its port (`example.com:8787`), or its host
 * name alone (`example.com` matches on every port). `host` and `hostname` are the request URL's,
 * lower-cased.
 */
export function hostMatches(packHost: string, host: string, hostname: string): boolean {
  return packHost === host || packHost === hostname
}

/**
 * Whether some request could match both pack hosts, by {@link hostMatches}: the same host name,
 * and the same port or no port on one of them. The build refuses such packs when their paths
 * overlap too (issue 12, item 15), so file order never decides.
 */
export function hostsOverlap(a: string, b: string): boolean {
  const [nameA, portA] = splitHost(a)
  const [nameB, portB] = splitHost(b)
  return nameA === nameB && (portA === null || portB === null || portA === portB)
}

function splitHost(host: string): [string, string | null] {
  const colon = host.lastIndexOf(':')
  return colon < 0 ? [host, null] : [host.slice(0, colon), host.slice(colon + 1)]
}
