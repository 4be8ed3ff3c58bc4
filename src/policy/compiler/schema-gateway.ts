/**
 * The shape of `_gateway.yaml` (API keys, issuers, the session endpoint, signers, key
 * directories, envelope settings, previous signing keys, the gateway-wide settings), with zod, at
 * build time only; `schema.ts` holds the pack files' shape and re-exports this one.
 *
 * @module
 */
import { z } from 'zod'
import { SIGNATURE_ALGORITHMS } from '../../pipeline/authenticate/envelope/algorithm-table.ts'
import { HEADER_NAME, KEY_ID, META_FIELD, SHA256_HEX } from '../patterns.ts'
import { duration, identifier, jsonValue, origin } from './primitives.ts'

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
    directory_stale: duration
      .default('1h')
      .describe("How long a directory's last good copy keeps working while the directory cannot be fetched."),
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
        directory_stale: '1h',
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

export type RawGatewayFile = z.output<typeof gatewayFile>
export type RawIssuer = z.output<typeof issuerEntry>
export type RawSigner = z.output<typeof signer>
export type RawClaimMapping = z.output<typeof claimMapping>
