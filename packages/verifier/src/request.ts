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
  /** The absolute URL the backend received (its query is ignored). */
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

/**
 * The URL as `htu` carries it: scheme, host and path, without query or fragment (as DPoP's `htu`,
 * RFC 9449 §4.3), in WHATWG URL form (lower-case host, default port dropped, dot segments
 * resolved). `null` when it is not an absolute URL.
 */
export function htuOf(url: string, rewrite: UrlRewrite | undefined): string | null {
  let received: URL
  try {
    received = new URL(url)
  } catch {
    return null
  }
  const plain = received.origin + received.pathname
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
