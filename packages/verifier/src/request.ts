/**
 * The request the backend received, as the verifier needs it: method, absolute URL, headers.
 * A Fetch `Request` fits as it is; so does `{ method, url, headers }` with Node's header object.
 *
 * @module
 */

/** Headers as a Fetch `Headers` (or anything with `get`), or Node's `IncomingHttpHeaders`. */
export type HeadersLike =
  | { get(name: string): string | null }
  | Readonly<Record<string, string | readonly string[] | undefined>>

export interface RequestLike {
  method: string
  /** The absolute URL the backend received, its path as it came (never resolved); its query is ignored. */
  url: string
  headers: HeadersLike
}

/**
 * A URL rewrite between the gateway and this backend (a load balancer that changes the host, a
 * proxy that strips a path prefix): a received URL starting with `from` is compared as if it
 * started with `to`, the URL the gateway forwarded to. One that does not start with `from` is
 * refused (`wrong_request`).
 */
export interface UrlRewrite {
  from: string
  to: string
}

export function headerValue(headers: HeadersLike, name: string): string | null {
  if (typeof headers.get === 'function') return (headers as { get(name: string): string | null }).get(name)
  const value = (headers as Record<string, string | readonly string[] | undefined>)[name.toLowerCase()]
  if (value === undefined) return null
  // Two X-Invoker headers are never the gateway's (it sets exactly one): Node joins them, and the
  // joined value is not a token.
  return typeof value === 'string' ? value : value.join(', ')
}

/** The schemes a received URL may have, with their default ports (dropped, as the gateway's URL drops them). */
const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', https: '443', ws: '80', wss: '443' }

/**
 * The URL as `htu` carries it: scheme, host and path, without query (as DPoP's `htu`, RFC 9449
 * §4.3). Nothing is parsed or resolved the way a URL parser would, because the Python verifier
 * must give the same answer and a backend may read the same bytes otherwise:
 *
 * - The scheme and host are lower-cased (ASCII; RFC 3986 §6.2.2.1) and a port that is the
 *   scheme's default, spelled exactly so (`:443` on https), is dropped (RFC 9110 §4.2.3): the
 *   gateway's `htu` is a WHATWG-serialised URL, lower case and without a default port. Nothing
 *   else about the host is normalised: `127.1`, `0x7f.0.0.1`, `2130706433`, a trailing `.`,
 *   `%31`-escapes, a port `:0443` or `:028791` all differ from `htu` (WHATWG host parsing would
 *   turn each into the gateway's host, and the Python verifier never did). A host that is not
 *   ASCII (the gateway's is punycode) and userinfo (`user@host`, which no gateway request has)
 *   are `null`.
 * - The path is taken byte for byte as the backend received it and is never resolved: a
 *   backend's router dispatches `/admin/../hello` or `/admin/%2e%2e/hello` to /admin, so
 *   resolving it here to the `/hello` the token names would hand the /admin handler a token
 *   issued for /hello. The gateway forwards the normalised path it decided on, which is exactly
 *   the path in `htu`. So dot segments (raw or encoded), `//`, a trailing `/`, escaped unreserved
 *   characters and lower-case escapes all differ from `htu`, and a `#`, a space or a control
 *   character is never cut or stripped: `null` then, or when the URL is not absolute.
 */
export function htuOf(url: string, rewrite: UrlRewrite | undefined): string | null {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
  if (/[\x00-\x20\x7f]/.test(url)) return null
  const schemeEnd = url.indexOf('://')
  if (schemeEnd <= 0) return null
  const scheme = url.slice(0, schemeEnd).toLowerCase()
  const defaultPort = Object.hasOwn(DEFAULT_PORTS, scheme) ? DEFAULT_PORTS[scheme] : undefined
  if (defaultPort === undefined) return null
  const authorityStart = schemeEnd + 3
  let pathStart = authorityStart
  while (pathStart < url.length && !'/?#'.includes(url[pathStart] as string)) pathStart++
  let host = url.slice(authorityStart, pathStart)
  if (host === '' || host.includes('@') || !/^[\x21-\x7e]+$/.test(host)) return null
  host = host.toLowerCase()
  if (host.endsWith(`:${defaultPort}`)) host = host.slice(0, -defaultPort.length - 1)
  const queryStart = url.indexOf('?', pathStart)
  const path = url.slice(pathStart, queryStart < 0 ? url.length : queryStart)
  // An empty path is `/` (RFC 9110 §4.2.3); a path not starting with `/` (`http://h#x`) is not one the gateway sends.
  const plain = `${scheme}://${host}${path === '' ? '/' : path}`
  if (!rewrite) return plain
  return rewritten(plain, rewrite)
}

function rewritten(plain: string, { from, to }: UrlRewrite): string | null {
  if (!plain.startsWith(from)) return null
  const rest = plain.slice(from.length)
  // A prefix matches whole path segments only: /api must not match /apiary.
  if (rest !== '' && !from.endsWith('/') && !rest.startsWith('/')) return null
  return to + rest
}
