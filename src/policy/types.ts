/**
 * The compiled policy: what the build step (`src/policy/compiler/`) produces from the YAML under
 * `policies/` and what the Worker imports. Plain data only, so that it can be emitted as a
 * module, diffed, and read by the CLI with the very same types.
 *
 * @module
 */
import type { AuthMethod, Invoker, JsonValue } from '../invoker.ts'

export const COMPILED_POLICY_VERSION = 1

export interface CompiledPolicy {
  version: typeof COMPILED_POLICY_VERSION
  gateway: GatewaySettings
  /** API keys by their embedded key id (the 8 characters after `igw_`). */
  apiKeys: Record<string, ApiKeyRecord>
  /** Bearer token issuers by their policy name. */
  issuers: Record<string, CompiledIssuer>
  session: CompiledSession | null
  /** Request signers (RFC 9421) by their policy name. */
  signers: Record<string, CompiledSigner>
  keyDirectories: CompiledDirectory[]
  envelope: EnvelopeSettings
  packs: CompiledPack[]
  /** Public keys of earlier signing keys, published in the JWKS until their date (rotation). */
  previousSigningKeys: PreviousSigningKey[]
  /** Where requests go, looked up rather than searched (pipeline/route/table.ts makes it). */
  routes: CompiledRoutes
}

/** Where a request goes: its pack and agent, and the URL the backend receives (pipeline/route/match.ts). */
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

/** The gateway's own endpoints, answered before any pack. */
export type GatewayEndpoint = 'jwks' | 'resource_metadata' | 'admin_keys'

export interface CompiledRoutes {
  /** Exact paths of the gateway's own endpoints: the JWKS, the admin endpoint, each MCP pack's RFC 9728 metadata. */
  endpoints: Record<string, GatewayEndpoint>
  /** Each pack's path prefix ('' at the root) → its index in `packs`; several when hosts tell them apart. */
  prefixes: Record<string, number[]>
}

/** A public signing key that no longer signs but stays published until `untilSeconds`. */
export interface PreviousSigningKey {
  /** Public members only (kty, crv, x[, y], kid, alg, use). */
  jwk: Record<string, string>
  /** Unix seconds; the key leaves the JWKS at this time. */
  untilSeconds: number
}

export type SignatureAlgorithm = 'ed25519' | 'ecdsa-p256-sha256' | 'rsa-pss-sha512' | 'rsa-v1_5-sha256' | 'hmac-sha256'

/** The invoker a signer or a key directory stands for. */
export type SignerInvoker = Invoker

export interface CompiledSigner {
  name: string
  keyId: string
  algorithm: SignatureAlgorithm
  /** The public JWK of an asymmetric signer; `null` for HMAC. */
  jwk: Record<string, JsonValue> | null
  /** The Worker secret holding an HMAC key; `null` for asymmetric signers. */
  secretName: string | null
  delegate: boolean
  /**
   * The namespace of the ids of the users a delegating signer acts for (`<prefix><user>`, the
   * prefix ends in `:`), kept apart from every other kind of id at build time; `null` when the
   * signer may not delegate.
   */
  delegatedIdPrefix: string | null
  invoker: SignerInvoker
}

export interface CompiledDirectory {
  origin: string
  invoker: SignerInvoker
}

export interface EnvelopeSettings {
  maxAgeSeconds: number
  clockSkewSeconds: number
  nonceRequired: boolean
  /** Lower case. */
  delegationHeader: string
  directoryTimeoutMs: number
  directoryCacheMs: number
  /** How long a directory's last good copy is used while the directory cannot be fetched (as an issuer's `stale`). */
  directoryStaleMs: number
  /**
   * Prefixes a delegated user name may not start with: the id namespaces of the other kinds of
   * invoker (`anon:`, `apikey:`) and every signer's delegation namespace.
   */
  reservedUserPrefixes: string[]
}

/** Maps the claims of a token (or the JSON of a session answer) to an invoker. */
export interface ClaimMapping {
  /** Claim paths tried in order for the id; each path is split on dots at build time. */
  id: string[][]
  idPrefix: string
  /**
   * Id namespaces of other invokers (`anon:`, `apikey:`, delegation namespaces, other issuers'
   * and the session's `id_prefix`) that an id with this prefix could still fall into, folded
   * as fold.ts folds (an id is folded before it is compared); such an id is refused. Empty when the prefix
   * already keeps the ids apart.
   */
  reservedIdPrefixes: string[]
  /**
   * Ids written in policy for other invokers (signers, key directories, API keys with an
   * `invoker.id`) that an id with this prefix could equal; such an id is refused.
   */
  reservedIds: string[]
  kind: string
  label: string[] | null
  email: string[] | null
  meta: Array<{ field: string; path: string[] }>
}

export interface CompiledIssuer {
  name: string
  issuer: string
  audiences: string[]
  algorithms: string[]
  typ: string | null
  clockToleranceSeconds: number
  maxTokenAgeSeconds: number | null
  keys: IssuerKeys | null
  introspection: CompiledIntrospection | null
  claims: ClaimMapping
  /**
   * The resources (RFC 8707) of the MCP packs that accept this issuer and that its `audience` does
   * not name. The compiler adds them to `audiences` (so a token for an MCP pack verifies), but a
   * token whose only audiences are among them opens no other pack: see `audienceAccepted`.
   */
  mcpResources: string[]
}

export type IssuerKeys =
  | { source: 'jwks_uri'; url: string; maxAgeMs: number; cooldownMs: number; staleMs: number; timeoutMs: number }
  | { source: 'jwks'; jwks: { keys: Array<Record<string, JsonValue>> } }
  | { source: 'secret'; secretName: string }

export interface CompiledIntrospection {
  endpoint: string
  clientId: string
  clientSecretName: string
  cacheTtlMs: number
  negativeTtlMs: number
  timeoutMs: number
}

export interface CompiledSession {
  cookies: string[]
  verify:
    | { by: 'jwt'; issuer: string; claims: ClaimMapping }
    | {
        by: 'introspection'
        endpoint: string
        cacheTtlMs: number
        negativeTtlMs: number
        timeoutMs: number
        claims: ClaimMapping
      }
}

export interface GatewaySettings {
  /** `iss` of every X-Invoker token. */
  issuer: string
  /** Name of the header carrying the token to the backend (lower case). */
  headerName: string
  tokenTtlSeconds: number
  upstreamTimeoutMs: number
  /** How long a store call (rate limit, minted key, nonce) may take before it counts as failed. */
  storeTimeoutMs: number
  /**
   * While a request body is being sent upstream: the longest time no byte may move (408 when the
   * client stopped sending, 504 when the backend stopped reading). `upstreamTimeoutMs` starts
   * only once the whole body has been sent.
   */
  uploadIdleTimeoutMs: number
  /** How long a concurrency slot lives in the store unless renewed (renewed every third of it). */
  concurrencyLeaseMs: number
}

export interface ApiKeyRecord {
  /** The key's name in policy (`api_keys.<name>`); what rules and logs refer to. */
  name: string
  keyId: string
  /** Lower-case hex SHA-256 of the whole key string. */
  sha256: string
  /** Packs the key may call; `null` means every pack that accepts API keys. */
  packs: string[] | null
  /** Unix seconds after which the key is refused; `null` never expires. */
  expiresAt: number | null
  revoked: boolean
  invoker: { id: string; kind: string; label?: string; meta: Record<string, JsonValue> }
}

export type AcceptedMethod = Exclude<AuthMethod, 'anonymous'>

export interface CompiledPack {
  id: string
  /** Upstream origin plus optional base path, without a trailing slash. */
  upstream: string
  /** Lower-case host name the pack answers on; `null` for any host. */
  host: string | null
  /** Normalized path prefix without trailing slash; '' is the root. */
  pathPrefix: string
  stripPrefix: boolean
  auth: AcceptedMethod[]
  anonymous: boolean
  mode: 'enforce' | 'report'
  passCredentials: boolean
  /** `null` when the pack has no allow list (everyone authenticated passes it). */
  allow: CompiledRule[] | null
  deny: CompiledRule[]
  agents: CompiledAgent[]
  /** All must pass (SPEC §5). */
  rateLimits: CompiledRateLimit[]
  /** Issuer names whose tokens the pack accepts (every issuer when the policy names none). */
  bearerIssuers: string[]
  /** Scopes a bearer token must carry: all of `all`, and one of `any` when it is not empty. */
  requiredScopes: { all: string[]; any: string[] }
  cors: CompiledCors | null
  /** Signers and directories the pack accepts, and what a signature must cover beyond the floor. */
  envelope: { signers: string[]; directories: string[]; cover: string[] }
  /**
   * Signed bodies: read and checked against Content-Digest before forwarding up to `limitBytes`;
   * a larger one is refused (413) unless `stream`, and then streams, checked at its end.
   */
  signedBody: { limitBytes: number; stream: boolean }
  /**
   * Method-override headers (lower case) the backend honours: forwarded on POST only, and then
   * the method they name is the one rules and rate limits see. Empty: all are dropped.
   */
  methodOverride: string[]
  /** Refuse paths a backend may read differently from the gateway (double encoding, `;`, …). */
  strictPaths: boolean
  /** `protocol: mcp`: the pack fronts an MCP server (Streamable HTTP); `null` for plain HTTP packs. */
  mcp: CompiledMcp | null
  /** At most `limit` open requests per key; every rule that applies must have a free slot (issue 15). */
  concurrency: CompiledConcurrency[]
  /** Open SSE answers and WebSockets: how long they may last, stay idle, and go unchecked. */
  streams: CompiledStreams
}

/** What an MCP pack declares (see `src/policy/compiler/mcp.ts`). */
export interface CompiledMcp {
  /** The canonical resource URI (RFC 8707 §2, RFC 9728 `resource`): the audience its tokens must carry. */
  resource: string
  /** Where its Protected Resource Metadata is served (RFC 9728 §3.1, path inserted), absolute. */
  metadataUrl: string
  /** The path of `metadataUrl`, which the gateway routes to the document. */
  metadataPath: string
  /** The `issuer` values of the authorization servers that issue its tokens. */
  authorizationServers: string[]
  /** `scopes_supported` of the metadata. */
  scopes: string[]
  /** What a 401 or an insufficient_scope answer asks for (RFC 6750 §3 `scope`); `null` when nothing is required. */
  challengeScope: string | null
  /** Largest JSON-RPC body read to find the method and the tool (bytes). */
  maxBodyBytes: number
  /** Per-tool lists; `null` when the pack has no `tools` section (every tool passes the pack's lists). */
  tools: CompiledToolPolicy | null
}

export interface CompiledToolPolicy {
  /** What a tool no entry names gets. */
  default: 'allow' | 'deny'
  /** Every entry whose name matches applies; each narrows the pack's lists, none widens them. */
  entries: CompiledToolEntry[]
}

export interface CompiledToolEntry {
  /** The name glob as written, for logs and `explain`. */
  name: string
  pattern: CompiledPattern
  allow: CompiledRule[] | null
  deny: CompiledRule[]
}

/** A concurrency rule: at most `limit` requests open at once per key (shaped like a rate limit). */
export interface CompiledConcurrency {
  /** Unique among the pack's rate-limit and concurrency rules; names the rule in headers and logs. */
  id: string
  by: RateLimitKeySource
  limit: number
  when: { kinds: CompiledPattern[] | null; methods: string[] | null; agents: string[] | null }
  /** When the store fails or is slow: `local` counts in the isolate, `allow` serves, `deny` is 503. */
  onError: RateLimitOnError
  /** Open requests one isolate admits on its own under `on_error: local` (≥ 1). */
  localLimit: number
}

export interface CompiledStreams {
  /** An open stream is closed after this long; `null`: no limit. */
  maxDurationMs: number | null
  /** An open stream with no byte either way for this long is closed; `null`: no limit. */
  idleTimeoutMs: number | null
  /** How often the credential behind an open stream is checked again. */
  recheckMs: number
  /** When a recheck cannot be answered (a store or endpoint down): keep the stream, or close it. */
  onError: 'allow' | 'deny'
}

export interface CompiledCors {
  origins: string[]
  credentials: boolean
  maxAgeSeconds: number
  allowHeaders: string[]
  exposeHeaders: string[]
}

export type RateLimitKeySource = 'invoker' | 'ip' | 'pack' | 'agent' | 'api_key' | 'org' | 'tool' | `meta.${string}`
export type RateLimitAlgorithm = 'sliding_window' | 'fixed_window' | 'token_bucket'

export interface CompiledRateLimit {
  /** Unique in its pack; names the rule in RateLimit headers and logs. */
  id: string
  by: RateLimitKeySource
  /** Requests per window; for token_bucket, the bucket size and the refill per window. */
  limit: number
  windowMs: number
  algorithm: RateLimitAlgorithm
  /** Conditions that must all hold for the rule to count the request; `null` = any. */
  when: {
    /** Invoker kinds, each exact or a glob. */
    kinds: CompiledPattern[] | null
    methods: string[] | null
    agents: string[] | null
    tools?: CompiledPattern[] | null
  }
  /** When the store fails or is slow: `local` limits in the isolate, `allow` serves, `deny` is 503. */
  onError: RateLimitOnError
  /** Requests per window one isolate admits on its own under `on_error: local` (≥ 1). */
  localLimit: number
}

export type RateLimitOnError = 'local' | 'allow' | 'deny'

export interface CompiledAgent {
  name: string
  /** Path segments relative to what the backend sees; '*' is one segment, a final '**' any rest. */
  pattern: string[]
  allow: CompiledRule[] | null
  deny: CompiledRule[]
}

/** All conditions must hold (AND); each condition holds if any of its patterns matches (OR). */
export interface CompiledRule {
  /** Where the rule lives, for logs and `explain`: `deny[0]`, `agents.X.allow[1]`. */
  ref: string
  conditions: CompiledCondition[]
}

export type RuleField = 'id' | 'kind' | 'label' | 'email' | 'api_key' | 'method' | 'on_behalf_of' | `meta.${string}`

export interface CompiledCondition {
  field: RuleField
  patterns: CompiledPattern[]
}

/**
 * A rule value: compared exactly, or a `*` glob split into its literal segments at build time
 * (see `policy/glob.ts`; never a regular expression). Values of fields compared
 * without case (`email`, `method`) are lower-cased at build time.
 */
export type CompiledPattern = { exact: string } | { glob: string[] }
