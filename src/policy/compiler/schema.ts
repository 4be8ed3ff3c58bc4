/**
 * The shape of the YAML policy files, written once with zod. It serves three purposes:
 * validating files at build time, typing the raw documents for the compiler, and emitting
 * the JSON Schema that editors use for completion (`policies/schema/*.json`). Build time only:
 * nothing here is imported by the Worker.
 *
 * @module
 */
import { z } from 'zod'
import { fixtureFile, type RawFixture } from './fixture-schema.ts'
import { SIGNATURE_ALGORITHMS } from '../../pipeline/authenticate/envelope/algorithm-table.ts'
import { HEADER_NAME, KEY_ID, META_FIELD, SHA256_HEX } from '../patterns.ts'
import { AUTH_METHODS, duration, identifier, jsonValue, localFraction, parseDuration } from './primitives.ts'
import { concurrencyRule, streamSettings } from './streams.ts'
import { size } from './size.ts'
import { mcpSettingsSchema } from './mcp-schema.ts'

export { AUTH_METHODS, duration, fixtureFile, parseDuration, type RawFixture }

const scalar = z.union([z.string(), z.number(), z.boolean()])
const ruleValue = z.union([scalar, z.array(scalar).min(1)])

export const RULE_FIELDS = ['id', 'kind', 'label', 'email', 'api_key', 'method', 'on_behalf_of'] as const

/**
 * One allow or deny entry. Every field given must match (AND); a list value matches if any
 * element does (OR). String values may use `*` as a wildcard.
 */
export const rule = z
  .object({
    id: ruleValue.optional().describe('Invoker id.'),
    kind: ruleValue
      .optional()
      .describe('Invoker kind: authUser, apiKey, service, agent, chat, anonymous, or a custom kind.'),
    label: ruleValue.optional().describe('Invoker label.'),
    email: ruleValue.optional().describe("The invoker's meta.email, matched without regard to case."),
    api_key: ruleValue
      .optional()
      .describe('Name of the API key (under api_keys in _gateway.yaml) that authenticated the call.'),
    method: ruleValue.optional().describe('HTTP method of the request.'),
    on_behalf_of: ruleValue
      .optional()
      .describe(
        "The user a delegating signer acts for (its On-Behalf-Of value), without the signer's namespace. Only delegated invokers have one.",
      ),
  })
  .catchall(ruleValue)
  .describe('Matches an invoker. Other keys must be of the form meta.<field>.')

const rateLimit = z
  .object({
    id: identifier.describe('Names the rule in headers and logs.'),
    by: z.string().regex(new RegExp(`^(invoker|ip|pack|agent|api_key|org|tool|meta\\.${META_FIELD})$`), {
      message: 'by is one of invoker, ip, pack, agent, api_key, org, tool, meta.<field>',
    }),
    limit: z
      .number()
      .int()
      .positive()
      .describe('Requests per window; for token_bucket, the bucket size and the refill per window.'),
    window: duration.describe('Between 1s and 1d.'),
    algorithm: z.enum(['sliding_window', 'fixed_window', 'token_bucket']).default('sliding_window'),
    when: z
      .object({
        kind: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
        method: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
        agent: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
        tool: z
          .union([z.string(), z.array(z.string()).min(1)])
          .optional()
          .describe('MCP packs: tool name(s) of a tools/call, "*" a wildcard.'),
      })
      .strict()
      .optional(),
    on_error: z
      .enum(['local', 'allow', 'deny'])
      .default('local')
      .describe(
        'What to do when the store fails or is slow: local (limit in each isolate at local_fraction of the limit, log), allow (log and serve) or deny (503).',
      ),
    local_fraction: localFraction,
  })
  .strict()
  .describe('A rate limit; every rule of a pack that applies to a request must pass.')

const agent = z
  .object({
    path: z
      .string()
      .describe(
        'Path pattern relative to what the backend receives: literal segments, "*" for one segment, a final "**" for any rest.',
      ),
    allow: z.array(rule).optional().describe("Narrows the pack's allow list for this agent."),
    deny: z.array(rule).optional(),
  })
  .strict()

const mcpSettings = mcpSettingsSchema(rule)

const origin = z.string().regex(/^https?:\/\/[A-Za-z0-9.-]+(:\d+)?$/, {
  message: 'an origin is scheme://host[:port], without a path or a trailing slash',
})

/** RFC 6749 §3.3 scope tokens (no spaces, quotes or backslashes); a string is split on spaces. */
const scopeToken = z
  .string()
  .regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, { message: 'a scope is printable ASCII without spaces, " or \\' })
const scopeList = z.union([
  z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E ]+$/, { message: 'scopes are printable ASCII without " or \\' }),
  z.array(scopeToken).min(1),
])

export const packFile = z
  .object({
    $schema: z.string().optional(),
    pack: identifier.describe('The pack id; must equal the file name. Becomes the aud of X-Invoker.'),
    upstream: z
      .string()
      // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the policy's own placeholder syntax
      .describe('Backend origin and optional base path. ${VAR} and ${VAR:-default} read the build environment.'),
    allow_http_upstream: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Why a plain http: upstream is acceptable (e.g. "the backend is reached through a Workers VPC service"); the deploy guard refuses an http: upstream without it.',
      ),
    match: z
      .object({
        host: z.string().optional().describe('Host name the pack answers on; any host when absent.'),
        path_prefix: z.string().default('/'),
      })
      .strict(),
    strip_prefix: z.boolean().default(true).describe('Remove path_prefix from the path the backend receives.'),
    auth: z.array(z.enum(AUTH_METHODS)).default([]).describe('Accepted methods, in this pack.'),
    anonymous: z.enum(['allow', 'deny']).default('deny'),
    mode: z
      .enum(['enforce', 'report'])
      .default('enforce')
      .describe('report: log what would be denied, forward anyway.'),
    pass_credentials: z
      .boolean()
      .default(false)
      .describe('Forward the credential the gateway consumed (Authorization, x-api-key) to the backend.'),
    method_override: z
      .array(
        z.string().regex(/^x-(http-method-override|http-method|method-override)$/i, {
          message: 'a method-override header is X-HTTP-Method-Override, X-HTTP-Method or X-Method-Override',
        }),
      )
      .optional()
      .describe(
        'Method-override headers the backend honours: forwarded on POST only, and rules see the method they name. All are dropped when absent.',
      ),
    strict_paths: z
      .boolean()
      .optional()
      .describe(
        'Refuse (400) paths a backend may read differently: double encoding (%25), ";" parameters, segments ending in "." or a space, NTFS streams (":$"), encoded "?" or "#". Default: true on packs with agents.',
      ),
    allow: z.array(rule).optional().describe('When present, only invokers matching an entry are admitted.'),
    deny: z.array(rule).optional().describe('Invokers matching an entry are refused. Deny wins over allow.'),
    agents: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), agent).optional(),
    rate_limits: z.array(rateLimit).optional(),
    concurrency: z
      .array(concurrencyRule)
      .optional()
      .describe('At most limit requests open at once per key (streams, WebSockets, any request still running).'),
    streams: streamSettings
      .optional()
      .describe(
        'Open SSE answers and WebSockets: their longest life, idle time, and how often their credential is checked again.',
      ),
    bearer: z
      .object({
        issuers: z
          .array(z.string())
          .min(1)
          .optional()
          .describe('Names of the issuers (in _gateway.yaml) whose tokens this pack accepts; all when absent.'),
        scopes: z
          .object({
            all_of: scopeList.optional().describe('Every one of these scopes must be granted.'),
            any_of: scopeList.optional().describe('At least one of these scopes must be granted.'),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional()
      .describe('What a bearer token must be to call this pack.'),
    envelope: z
      .object({
        signers: z
          .array(z.string())
          .min(1)
          .optional()
          .describe('Names of the signers (in _gateway.yaml) this pack accepts; all when absent.'),
        directories: z
          .array(origin)
          .optional()
          .describe('Key directory origins this pack accepts; all trusted ones when absent, none with [].'),
        cover: z
          .array(z.string())
          .optional()
          .describe(
            'Components a signature must cover beyond @method, @authority, @path, @query and content-digest, e.g. content-type or "@query-param;name=q".',
          ),
        body_limit: size
          .optional()
          .describe(
            'Largest signed body read and checked against its Content-Digest before it is forwarded (default 1MiB, at most 8MiB); a larger one is refused with 413 unless stream_body is true.',
          ),
        stream_body: z
          .boolean()
          .optional()
          .describe(
            'Stream signed bodies above body_limit (with Content-Length) to the backend, checked only at their end: X-Invoker then says auth.body "streamed".',
          ),
      })
      .strict()
      .optional()
      .describe('What a signed request (RFC 9421) must be to call this pack.'),
    protocol: z
      .enum(['http', 'mcp'])
      .default('http')
      .describe(
        'mcp: an MCP server (Streamable HTTP) with OAuth discovery, audience-bound tokens and per-tool policy.',
      ),
    mcp: mcpSettings.optional().describe('Settings of an MCP pack (protocol: mcp).'),
    cors: z
      .object({
        origins: z
          .array(origin)
          .min(1)
          .describe(
            'Browser origins allowed to call the pack (CORS) and trusted for cookie-authenticated unsafe requests (CSRF).',
          ),
        credentials: z
          .boolean()
          .default(true)
          .describe('Let browsers send cookies (Access-Control-Allow-Credentials).'),
        max_age: duration.default('10m').describe('How long browsers may cache a preflight answer.'),
        allow_headers: z.array(z.string()).optional().describe('Request headers allowed beyond the defaults.'),
        expose_headers: z.array(z.string()).optional().describe('Response headers exposed beyond the defaults.'),
      })
      .strict()
      .optional()
      .describe('Browser callers: the gateway answers preflights and adds CORS headers.'),
  })
  .strict()

const apiKey = z
  .object({
    key_id: z.string().regex(KEY_ID, { message: 'key_id is the 8 characters after "igw_" in the key' }),
    sha256: z.string().regex(SHA256_HEX, { message: 'sha256 is 64 lower-case hex characters' }),
    packs: z
      .array(identifier)
      .min(1)
      .optional()
      .describe('Packs the key may call; all packs accepting API keys when absent.'),
    expires: z
      .union([z.string(), z.date()])
      .optional()
      .describe('ISO 8601 date or date-time after which the key is refused.'),
    revoked: z.boolean().default(false),
    invoker: z
      .object({
        id: z.string().min(1).optional().describe('Invoker id; apikey:<name> when absent.'),
        kind: z.string().min(1).default('apiKey'),
        label: z.string().optional(),
        meta: z.record(z.string(), jsonValue).default({}),
      })
      .strict()
      .default({ kind: 'apiKey', meta: {} }),
  })
  .strict()

const claimPath = z.string().regex(/^[A-Za-z0-9_:$-]+(\.[A-Za-z0-9_:$-]+)*$/, {
  message: 'a claim is a name, or a dotted path into nested objects (user.email)',
})

const claimMapping = z
  .object({
    id: z
      .union([claimPath, z.array(claimPath).min(1)])
      .optional()
      .describe('Claim(s) holding the invoker id; the first present wins.'),
    id_prefix: z.string().default('').describe("Prepended to the id, e.g. to keep two issuers' subjects apart."),
    kind: z.string().min(1).optional().describe('The invoker kind of every token of this source.'),
    label: claimPath.optional().describe('Claim holding a display label.'),
    email: claimPath.optional().describe('Claim holding the email (becomes meta.email).'),
    meta: z
      .record(z.string().regex(new RegExp(`^${META_FIELD}$`)), claimPath)
      .default({})
      .describe('meta field → claim path.'),
  })
  .strict()

const introspection = z
  .object({
    endpoint: z.string().describe('RFC 7662 introspection endpoint.'),
    client_id: z.string().min(1),
    client_secret: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]*$/, {
        message: 'name the Worker secret (e.g. IDP_INTROSPECTION_SECRET), never the secret itself',
      })
      .describe('Name of the Worker secret holding the client secret.'),
    cache_ttl: duration.default('60s').describe("How long an active answer is reused (never past the token's exp)."),
    negative_ttl: duration.default('10s').describe('How long an inactive answer is reused.'),
    timeout: duration.default('2s'),
  })
  .strict()

const issuerEntry = z
  .object({
    issuer: z.string().min(1).describe('The exact iss of the tokens.'),
    jwks_uri: z
      .string()
      .optional()
      .describe('Where the issuer publishes its keys (fetched, cached, cooled down, stale on error).'),
    jwks: z
      .object({ keys: z.array(z.record(z.string(), jsonValue)).min(1) })
      .optional()
      .describe('Inline public keys.'),
    secret: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]*$/, {
        message: 'name the Worker secret (e.g. A2A_SHARED_SECRET), never the secret itself',
      })
      .optional()
      .describe('Name of the Worker secret holding an HS256 shared secret.'),
    audience: z
      .union([z.string(), z.array(z.string()).min(1)])
      .optional()
      .describe(
        'Accepted aud value(s). MCP packs that accept the issuer add their resource (for them alone); an issuer needs one or the other.',
      ),
    algorithms: z
      .array(
        z.enum([
          'RS256',
          'RS384',
          'RS512',
          'PS256',
          'PS384',
          'PS512',
          'ES256',
          'ES384',
          'ES512',
          'EdDSA',
          'Ed25519',
          'HS256',
          'HS384',
          'HS512',
        ]),
      )
      .min(1)
      .describe('Pinned algorithms.'),
    typ: z.string().optional().describe('Required typ header, e.g. at+jwt (RFC 9068).'),
    clock_tolerance: duration.default('30s').describe('Allowed clock skew for exp, nbf, iat.'),
    max_token_age: duration.optional().describe('Refuse tokens whose iat is older than this.'),
    jwks_cache: z
      .object({
        max_age: duration.default('10m').describe('How long fetched keys are used before a refresh.'),
        cooldown: duration.default('30s').describe('Least time between two fetches for an unknown kid.'),
        stale: duration.default('1h').describe('How long the last good keys keep working while the endpoint fails.'),
        timeout: duration.default('2s'),
      })
      .strict()
      .default({ max_age: '10m', cooldown: '30s', stale: '1h', timeout: '2s' }),
    introspection: introspection.optional().describe('For opaque (non-JWT) tokens of this issuer.'),
    claims: claimMapping.default({ id_prefix: '', meta: {} }),
  })
  .strict()

const session = z
  .object({
    cookies: z
      .array(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/))
      .min(1)
      .describe('Cookie names that carry the session.'),
    jwt: z
      .object({
        issuer: z.string().describe('Name of an entry under issuers; the cookie is verified like a bearer token.'),
      })
      .strict()
      .optional(),
    introspection: z
      .object({
        endpoint: z.string().describe("The app's session endpoint, e.g. https://app.example.com/api/auth/get-session."),
        cache_ttl: duration.default('30s').describe('How long a valid session answer is reused.'),
        negative_ttl: duration.default('5s').describe('How long a refused session answer is reused.'),
        timeout: duration.default('2s'),
        claims: claimMapping.default({ id_prefix: '', meta: {} }),
      })
      .strict()
      .optional(),
  })
  .strict()

const secretName = z
  .string()
  .regex(/^[A-Z][A-Z0-9_]*$/, { message: 'name the Worker secret (e.g. CHAT_HOST_SECRET), never the secret itself' })

/** The invoker a signer (or a key directory) stands for. */
const agentInvoker = (idDefault: string) =>
  z
    .object({
      id: z.string().min(1).optional().describe(idDefault),
      kind: z.string().min(1).default('agent'),
      label: z.string().optional(),
      meta: z.record(z.string(), jsonValue).default({}),
    })
    .strict()
    .default({ kind: 'agent', meta: {} })

const signer = z
  .object({
    keyid: z.string().min(1).max(256).describe('The keyid the signer puts in Signature-Input.'),
    algorithm: z.enum(SIGNATURE_ALGORITHMS).describe('Pinned: a signature claiming another algorithm is refused.'),
    jwk: z.record(z.string(), jsonValue).optional().describe('The public key (asymmetric algorithms).'),
    secret: secretName.optional().describe('Name of the Worker secret holding the HMAC key (hmac-sha256).'),
    delegate: z.boolean().default(false).describe('May act for users by covering the delegation header.'),
    id_prefix: z
      .string()
      .regex(/^[\x21-\x7e]{0,63}:$/, {
        message: 'id_prefix is printable ASCII without spaces, at most 64 characters, ending in ":"',
      })
      .optional()
      .describe(
        'Namespace of the ids of the users this signer acts for: <id_prefix><user>. "<invoker id>:" when absent.',
      ),
    invoker: agentInvoker('signer:<name> when absent.'),
  })
  .strict()

const keyDirectory = z
  .object({
    origin: origin.describe(
      'Origin of a Web Bot Auth key directory (served at /.well-known/http-message-signatures-directory).',
    ),
    invoker: agentInvoker('The directory origin when absent.'),
  })
  .strict()

const envelopeSettings = z
  .object({
    max_age: duration.default('5m').describe('Oldest created a signature may have.'),
    clock_skew: duration.default('30s').describe("Allowed difference between the signer's clock and the gateway's."),
    nonce: z
      .enum(['required', 'optional'])
      .default('required')
      .describe("A nonce is remembered for the signature's lifetime; a replay is refused."),
    delegation_header: z
      .string()
      .regex(HEADER_NAME)
      .default('On-Behalf-Of')
      .describe('Header a delegating signer covers to name the user it acts for.'),
    directory_timeout: duration.default('2s'),
    directory_cache: duration.default('10m').describe('How long a fetched key directory is used.'),
  })
  .strict()

/** A public key the gateway signed with before, still published until a date (key rotation). */
const previousSigningKey = z
  .object({
    until: z
      .union([z.string(), z.date()])
      .describe('ISO 8601 date or date-time until which the key stays in /.well-known/jwks.json.'),
    jwk: z
      .record(z.string(), jsonValue)
      .describe('The public JWK (kty, crv, x[, y], kid, alg) as /.well-known/jwks.json served it.'),
  })
  .strict()

export const gatewayFile = z
  .object({
    $schema: z.string().optional(),
    issuer: z.string().min(1).describe('The iss of every X-Invoker token, e.g. https://gateway.example.com.'),
    header: z
      .string()
      .regex(HEADER_NAME)
      .default('X-Invoker')
      .describe('Header that carries the signed invoker to the backend.'),
    token_ttl: duration.default('60s'),
    upstream_timeout: duration.default('30s').describe('Time the backend has to send response headers (504 after).'),
    store_timeout: duration
      .default('500ms')
      .describe(
        "Time a store call (rate limit, runtime API key, nonce) may take; after it the rule's on_error decides.",
      ),
    upload_idle_timeout: duration
      .default('30s')
      .describe(
        'While a request body is sent to the backend, the longest time no byte may move: 408 when the client stopped sending, 504 when the backend stopped reading. upstream_timeout counts from the end of the body.',
      ),
    concurrency_lease: duration
      .default('30s')
      .describe(
        'How long a concurrency slot lives in the store unless renewed (every third of it, while its request is open): the slots of a gateway that died free within this long. At least 2s.',
      ),
    api_keys: z.record(identifier, apiKey).default({}),
    issuers: z.record(identifier, issuerEntry).default({}).describe('Token issuers for bearer JWTs and opaque tokens.'),
    session: session.optional().describe('Browser sessions: the cookie and how to verify it.'),
    signers: z.record(identifier, signer).default({}).describe('Who may sign requests (RFC 9421) and with which key.'),
    key_directories: z.array(keyDirectory).default([]).describe('Web Bot Auth key directories the gateway trusts.'),
    envelope: envelopeSettings
      .default({
        max_age: '5m',
        clock_skew: '30s',
        nonce: 'required',
        delegation_header: 'On-Behalf-Of',
        directory_timeout: '2s',
        directory_cache: '10m',
      })
      .describe('Rules every signed request follows.'),
    previous_signing_keys: z
      .array(previousSigningKey)
      .default([])
      .describe(
        'Public keys of earlier signing keys, published besides INVOKER_SIGNING_KEYS until their date, so a rotation never needs the old private key (`signing-keys rotate` prints the entries).',
      ),
  })
  .strict()

export type RawPackFile = z.output<typeof packFile>
export type RawMcpSettings = z.output<typeof mcpSettings>
export type RawGatewayFile = z.output<typeof gatewayFile>
export type RawRule = z.output<typeof rule>
export type RawIssuer = z.output<typeof issuerEntry>
export type RawSigner = z.output<typeof signer>
export type RawClaimMapping = z.output<typeof claimMapping>

/** JSON Schemas for editors (yaml-language-server reads the `$schema` comment in each file). */
export function jsonSchemas(): Record<'gateway' | 'pack' | 'fixtures', unknown> {
  const options = { io: 'input', unrepresentable: 'any' } as const
  return {
    gateway: z.toJSONSchema(gatewayFile, options),
    pack: z.toJSONSchema(packFile, options),
    fixtures: z.toJSONSchema(fixtureFile, options),
  }
}
