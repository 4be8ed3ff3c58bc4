/**
 * What the backend receives (SPEC §6). Forwarding strips before it adds: hop-by-hop fields,
 * every client-sent X-Invoker* field, the consumed credential and the delegation header,
 * client-sent forwarding fields, fields that rewrite the request's URL or method, client-address
 * fields, and fields an edge or identity proxy would set go first; then the gateway sets its own.
 *
 * @module
 */
import { withoutCookie } from '../../http/cookie.ts'
import { METHOD_OVERRIDE_HEADERS } from '../../http/method-override.ts'
import type { Consumed, MethodOverride } from '../../state.ts'

/** RFC 9110 §7.6.1: connection-specific fields, plus the fields the Connection header names. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

/** The gateway is the edge: whatever a client says about forwarding is replaced, not appended to. */
const CLIENT_FORWARDING = new Set([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-real-ip',
  'x-request-id',
  'host',
])

/**
 * Fields some backends read as the request's "real" URL, host, scheme or port, so that a caller
 * admitted for one path could name another (issue 12, item 17). Dropped always: the gateway
 * decides on the URL it received, and forwards that URL.
 *
 * - `x-original-url`, `x-rewrite-url`: IIS URL Rewrite; honoured by Symfony and Zend as the path.
 * - `x-original-uri`: nginx `auth_request` setups; read by apps as the request URI.
 * - `x-forwarded-uri`, `x-forwarded-path`, `x-forwarded-prefix`: Traefik, Spring's
 *   ForwardedHeaderFilter and ASP.NET Core's UsePathBase rebuild the path from them.
 * - `x-original-host`, `x-host`, `x-forwarded-server`, `x-http-host-override`: host overrides
 *   (the gateway sets `x-forwarded-host`).
 * - `x-forwarded-port`, `x-forwarded-scheme`, `x-forwarded-ssl`, `front-end-https`,
 *   `x-url-scheme`, `x-original-proto`: scheme and port overrides (the gateway sets
 *   `x-forwarded-proto`).
 */
const REQUEST_REWRITING = new Set([
  'x-original-url',
  'x-rewrite-url',
  'x-original-uri',
  'x-forwarded-uri',
  'x-forwarded-path',
  'x-forwarded-prefix',
  'x-original-host',
  'x-host',
  'x-forwarded-server',
  'x-http-host-override',
  'x-forwarded-port',
  'x-forwarded-scheme',
  'x-forwarded-ssl',
  'front-end-https',
  'x-url-scheme',
  'x-original-proto',
])

/**
 * Method overrides (see http/method-override.ts): dropped unless the pack lists them, and then
 * forwarded on POST only, carrying the method the decision was made on.
 */
const METHOD_OVERRIDE = new Set<string>(METHOD_OVERRIDE_HEADERS)

/**
 * Client-address fields the gateway does not set: the backend learns the caller's address from
 * `x-forwarded-for` alone, which the gateway writes from the address the edge saw. Each of these
 * is a CDN's or a proxy's convention that some framework trusts (Express `trust proxy`
 * libraries, Rails' `remote_ip`, Django middlewares), so a client could name any address.
 *
 * - `true-client-ip` (Cloudflare Enterprise, Akamai), `x-client-ip`, `client-ip`,
 *   `x-cluster-client-ip` (Rackspace, Riverbed), `fastly-client-ip`, `x-originating-ip`
 *   (Exchange), `x-remote-ip`, `x-remote-addr`, `x-proxyuser-ip` (Google), `x-forwarded`,
 *   `forwarded-for`, `x-envoy-external-address`, `x-azure-clientip`, `x-azure-socketip`,
 *   `x-appengine-user-ip`.
 * - `cf-connecting-ip`, `cf-connecting-ipv6`, `cf-pseudo-ipv4`: Cloudflare sets them on the
 *   request the Worker receives (the gateway reads `cf-connecting-ip` as the client address),
 *   but copied onto the upstream request they would be indistinguishable from a client's own
 *   (e.g. under `wrangler dev`, or behind another proxy): the address travels in
 *   `x-forwarded-for` instead.
 */
const CLIENT_ADDRESS = new Set([
  'true-client-ip',
  'x-client-ip',
  'client-ip',
  'x-cluster-client-ip',
  'fastly-client-ip',
  'x-originating-ip',
  'x-remote-ip',
  'x-remote-addr',
  'x-proxyuser-ip',
  'x-forwarded',
  'forwarded-for',
  'x-envoy-external-address',
  'x-azure-clientip',
  'x-azure-socketip',
  'x-appengine-user-ip',
  'cf-connecting-ip',
  'cf-connecting-ipv6',
  'cf-pseudo-ipv4',
])

/**
 * Fields dropped by name prefix (an exact name is its own prefix): what an edge or an identity
 * proxy in front of a backend would have set, which the backend may read as the caller's identity
 * or as facts about its connection. The gateway is that edge now; a client's copy would reach the
 * backend looking exactly like the proxy's (red team F3).
 *
 * - `x-forwarded-`: every one. The gateway sets `x-forwarded-for`, `-proto` and `-host` after the
 *   strip; the rest are identities (oauth2-proxy's and Traefik forward-auth's `-user`, `-email`,
 *   `-groups`, `-preferred-username`, `-access-token`), Envoy's client certificate
 *   (`x-forwarded-client-cert`, XFCC) or URL overrides (`-uri`, `-port`, listed above).
 * - `cf-`: every one. Cloudflare's edge sets them on the request the Worker receives (`cf-ray`,
 *   `cf-ipcountry`, `cf-visitor`, Access's `cf-access-authenticated-user-email` and
 *   `cf-access-jwt-assertion`); copied upstream they could not be told from a client's own.
 * - Identity proxies: oauth2-proxy `x-auth-request-`; Authelia and web servers' `remote-`
 *   (`Remote-User`, `-Groups`, `-Email`, `-Name`); `x-remote-` (Kubernetes' authenticating
 *   proxy: `X-Remote-User`, `-Group`, `-Extra-`); Grafana-style `x-webauth-`; authentik
 *   `x-authentik-`; Vouch `x-vouch-`; Pomerium `x-pomerium-`; AWS ALB `x-amzn-oidc-`; Azure App
 *   Service Easy Auth `x-ms-client-principal` and its tokens `x-ms-token-`; Google IAP
 *   `x-goog-authenticated-user-` and `x-goog-iap-jwt-assertion`; Kong `x-consumer-`,
 *   `x-authenticated-` (`-userid`, `-scope`, and the common `x-authenticated-user`),
 *   `x-credential-identifier`, `x-anonymous-consumer`, and its OIDC plugin's `x-userinfo`.
 * - Client certificates checked at a proxy (nginx, HAProxy, Traefik): `x-ssl-`, `ssl-`
 *   (`Ssl-Client-Verify`), `x-client-cert`, `x-client-verify`.
 * - `x-envoy-`: Envoy's internal fields, which Envoy itself removes from external requests.
 *
 * Not dropped: `x-user` and `x-email`. No proxy sets them by default (they are names a site
 * chooses in its own auth_request setup), and as generic names clients send them for their own
 * purposes; a backend that reads a custom identity field must read X-Invoker instead (README).
 */
const DROPPED_PREFIXES = [
  'x-forwarded-',
  'cf-',
  'x-auth-request-',
  'remote-',
  'x-remote-',
  'x-webauth-',
  'x-authentik-',
  'x-vouch-',
  'x-pomerium-',
  'x-amzn-oidc-',
  'x-ms-client-principal',
  'x-ms-token-',
  'x-goog-authenticated-user-',
  'x-goog-iap-jwt-assertion',
  'x-consumer-',
  'x-authenticated-',
  'x-credential-identifier',
  'x-anonymous-consumer',
  'x-userinfo',
  'x-ssl-',
  'ssl-',
  'x-client-cert',
  'x-client-verify',
  'x-envoy-',
  // Red-team pass 9: Azure's client certificate (ASP.NET certificate forwarding reads it), ALB
  // mTLS, App Engine's Users API, GCP API Gateway and Cloud Endpoints (read as verified claims),
  // Tailscale Serve, WSO2, Fly's and Vercel's client addresses, and Next.js's internal
  // middleware header (CVE-2025-29927: a client's copy skips the app's middleware).
  'x-arr-clientcert',
  'x-arr-ssl',
  'x-amzn-mtls-',
  'x-appengine-',
  'x-apigateway-api-userinfo',
  'x-endpoint-api-userinfo',
  'tailscale-',
  'x-jwt-assertion',
  'fly-client-ip',
  'x-vercel-',
  'x-original-forwarded-for',
  'x-middleware-subrequest',
]

/**
 * The prefixes by a name's first and third characters (every prefix has three): a field is
 * tested against the one to five prefixes that share them, found by one lookup on a number,
 * instead of against all of them. Field names are ASCII (RFC 9110 §5.1), so a code fits a byte.
 */
const PREFIXES_BY_LEAD = new Map<number, string[]>()
const leadOf = (name: string): number => (name.charCodeAt(0) << 8) | name.charCodeAt(2)
for (const prefix of DROPPED_PREFIXES) {
  const lead = leadOf(prefix)
  PREFIXES_BY_LEAD.set(lead, [...(PREFIXES_BY_LEAD.get(lead) ?? []), prefix])
}

function droppedByPrefix(name: string): boolean {
  const prefixes = PREFIXES_BY_LEAD.get(leadOf(name))
  if (prefixes === undefined) return false
  for (const prefix of prefixes) if (name.startsWith(prefix)) return true
  return false
}

/** What a CGI-style server reads as `-` in a field name. */
const CGI_SEPARATORS = /[_.]/g

/** W3C Trace Context fields: validated, and set by the gateway (see trace-context.ts). */
const TRACE_CONTEXT = new Set(['traceparent', 'tracestate'])

/** Every field above, for the one lookup each field of a request costs. */
const DROPPED = new Set([
  ...HOP_BY_HOP,
  ...CLIENT_FORWARDING,
  ...REQUEST_REWRITING,
  ...METHOD_OVERRIDE,
  ...CLIENT_ADDRESS,
  ...TRACE_CONTEXT,
])

export interface UpstreamHeaderInput {
  invokerHeader: string
  token: string
  requestId: string
  consumed: Consumed
  /** The gateway's session cookie names (`session.cookies`), removed on every pack. */
  sessionCookies: readonly string[]
  /**
   * The delegation header (`envelope.delegation_header`, lower case), removed on every pack: the
   * user a signer acts for travels in X-Invoker, and a client's own value must not be read instead.
   */
  delegationHeader: string
  passCredentials: boolean
  clientAddress: string | null
  proto: string
  host: string
  websocket: boolean
  /** The method-override headers the pack honours and this request carries, with their method. */
  methodOverride: MethodOverride | null
  /** The trace context the backend receives: the client's when valid, else a new trace. */
  trace: { traceparent: string; tracestate: string | null }
}

/**
 * The request's fields copied natively, then the ones that must go deleted: one pass over the
 * names the request has (a handful), rather than a delete per name the gateway knows (dozens) or
 * an append per field kept.
 */
export function upstreamHeaders(incoming: Headers, input: UpstreamHeaderInput): Headers {
  const out = new Headers(incoming)
  const connection = incoming.get('connection')
  const named = connection === null ? null : new Set(connection.split(',').map((token) => token.trim().toLowerCase()))
  const dropped = input.passCredentials ? null : input.consumed.headers
  // The session cookies are the gateway's credential on every pack, not only where they
  // authenticated: a backend of another pack on the host must not receive one to replay.
  const droppedCookies = input.passCredentials ? null : input.sessionCookies
  const droppedDelegation = input.passCredentials ? null : input.delegationHeader
  for (const name of incoming.keys()) {
    // Servers that map field names to CGI variables (WSGI, PHP) read `_` as `-`, and PHP reads
    // `.` as `_` too: `X_Invoker` or `Remote.User` would arrive as X-Invoker or Remote-User, or
    // merged with them, so a name is judged as it would be read.
    const read = name.includes('_') || name.includes('.') ? name.replace(CGI_SEPARATORS, '-') : name
    if (
      DROPPED.has(read) ||
      droppedByPrefix(read) ||
      read === droppedDelegation ||
      // Any X-Invoker* field, and anything under the configured header's name: the backend trusts these.
      read.startsWith('x-invoker') ||
      read.startsWith(input.invokerHeader) ||
      named?.has(read) ||
      dropped?.includes(read)
    ) {
      out.delete(name)
    } else if (name === 'cookie' && droppedCookies !== null && droppedCookies.length > 0) {
      const rest = withoutCookie(incoming.get(name) as string, droppedCookies)
      if (rest === null) out.delete(name)
      else out.set(name, rest)
    }
  }
  if (input.websocket) {
    out.set('upgrade', 'websocket')
    out.set('connection', 'Upgrade')
  }
  if (input.methodOverride) for (const name of input.methodOverride.headers) out.set(name, input.methodOverride.method)
  if (input.clientAddress) out.set('x-forwarded-for', input.clientAddress)
  out.set('x-forwarded-proto', input.proto)
  out.set('x-forwarded-host', input.host)
  out.set('x-request-id', input.requestId)
  out.set('traceparent', input.trace.traceparent)
  if (input.trace.tracestate !== null) out.set('tracestate', input.trace.tracestate)
  out.set(input.invokerHeader, input.token)
  return out
}
