/**
 * Every number the gateway uses, each with its reason (as workers-oauth-provider's
 * `ema/constants.ts` does), so that nobody has to hunt for a magic value.
 *
 * @module
 */

/** Default lifetime of an X-Invoker token: short, because it is minted per request (SPEC §6). */
export const DEFAULT_INVOKER_TTL_S = 60

/** Default time the backend has to send response headers before the gateway answers 504. */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 30_000

/** JWKS responses may be cached briefly by backends; rotation keeps the previous key published. */
export const JWKS_CACHE_MAX_AGE_S = 300

/**
 * Longest credential the gateway will look at. Far above any real API key or JWT, low enough
 * that hashing or parsing a hostile value costs nothing worth mentioning.
 */
export const MAX_CREDENTIAL_LENGTH = 8 * 1024

/** Length of the keyed hash that names an anonymous caller (base64url chars, 128 bits). */
export const ANONYMOUS_ID_HASH_CHARS = 22

/** The `typ` of an X-Invoker token (RFC 8725 §3.11: explicit typing). */
export const INVOKER_TOKEN_TYPE = 'invoker+jwt'

/** Worker secret holding the signing key set (a JWK set; the first key signs). */
export const SIGNING_KEYS_SECRET = 'INVOKER_SIGNING_KEYS'

/**
 * Most answers (introspected tokens, sessions) one isolate remembers. Bounded so that a caller
 * sending endless distinct tokens costs memory only up to here; the oldest entry leaves first.
 */
export const ANSWER_CACHE_MAX_ENTRIES = 10_000

/** Most characters of an `iss` the gateway reads from an unverified token before refusing it. */
export const MAX_ISSUER_LENGTH = 512

/**
 * Longest time a verified bearer token's claims are reused without verifying its signature
 * again (never past its exp, never after its key leaves the issuer's JWKS). Short, so that an
 * operator who removes an issuer's key by hand sees it take effect within a minute.
 */
export const VERIFIED_TOKEN_TTL_MS = 60_000

/**
 * Default largest signed body the gateway holds in memory to check its Content-Digest before any
 * byte of it is forwarded (issue 12, item 4). Request bodies of signed calls to agents are
 * prompts and tool arguments: kilobytes, rarely more.
 */
export const DEFAULT_SIGNED_BODY_LIMIT_BYTES = 1024 * 1024

/**
 * Largest `envelope.body_limit` a pack may set. A Worker isolate has 128 MB of memory, shared by
 * every request it serves at once; a buffered body is held once (read into one buffer), so at
 * 8 MiB a dozen concurrent uploads of the maximum size still leave most of it to everything else.
 */
export const MAX_SIGNED_BODY_LIMIT_BYTES = 8 * 1024 * 1024

/**
 * Largest body the admin endpoint reads. A mint request is a few hundred bytes of JSON; the cap
 * is applied while reading, so a larger one costs at most this much.
 */
export const ADMIN_MAX_BODY_BYTES = 8 * 1024
