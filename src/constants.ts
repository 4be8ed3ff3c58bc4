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
 * Most answers (introspected tokens, verified JWTs, sessions) one cache of an isolate remembers.
 * Bounded so that a caller sending endless distinct tokens costs memory only up to here; the
 * least recently used entry leaves first.
 */
export const ANSWER_CACHE_MAX_ENTRIES = 10_000

/**
 * Most bytes one answer cache holds. A Worker isolate has 128 MB; the three answer caches
 * together stay under a tenth of it, whatever size of claims callers bring.
 */
export const ANSWER_CACHE_MAX_BYTES = 4 * 1024 * 1024

/**
 * Largest single answer remembered. A mapped invoker is a few hundred bytes; one far larger
 * (a huge meta claim) is verified again on each use rather than crowding out everyone else's.
 */
export const ANSWER_CACHE_MAX_ENTRY_BYTES = 32 * 1024

/** What a cache entry costs beyond its key and value (map slot, entry object, TTL bookkeeping). */
export const ANSWER_CACHE_ENTRY_OVERHEAD_BYTES = 128

/**
 * Largest answer read from a service the gateway asks (a JWKS, an introspection or session
 * answer, a key directory): far above any real one (a JWKS of a dozen RSA keys is ~10 KB), low
 * enough that a misbehaving service cannot fill the isolate's memory; a larger one is refused
 * while it is read and counts as the service failing.
 */
export const MAX_FETCHED_ANSWER_BYTES = 1024 * 1024

/**
 * How long a failed introspection or session lookup is remembered for the credential that asked
 * (RFC 7662 / the app's session endpoint answered 5xx, timed out, or was unreachable): the same
 * client retrying does not hit a failing endpoint again before then. Equal to the Retry-After
 * the 503 carries.
 */
export const ENDPOINT_FAILURE_COOLDOWN_MS = 5_000

/** Most characters of an `iss` the gateway reads from an unverified token before refusing it. */
export const MAX_ISSUER_LENGTH = 512

/**
 * Longest time a verified bearer token's claims are reused without verifying its signature
 * again (never past its exp, never after its key leaves the issuer's JWKS). Short, so that an
 * operator who removes an issuer's key by hand sees it take effect within a minute.
 */
export const VERIFIED_TOKEN_TTL_MS = 60_000

/**
 * Largest answer to `tools/list` (a JSON body, or one SSE event) an MCP pack holds to filter it
 * per caller. A list of 1,000 tools with their JSON Schemas is 1–2 MB; a larger one is refused
 * (502), never passed on unfiltered.
 */
export const MCP_MAX_TOOL_LIST_BYTES = 8 * 1024 * 1024

/**
 * How long clients may cache an MCP pack's Protected Resource Metadata (RFC 9728): it changes
 * only with a deploy, like the JWKS.
 */
export const RESOURCE_METADATA_MAX_AGE_S = 300

/**
 * Size of one read of a body the gateway reads itself (an MCP request, a tool list). workerd
 * hands a byte stream to JavaScript in 4 KiB chunks by default, and each read costs ~15 µs of
 * CPU (measured: a 250 KB list read 4 KiB at a time took ~0.8 ms); a BYOB read fills up to this
 * at once, and returns as soon as anything has arrived, so it delays nothing.
 */
export const BODY_READ_BYTES = 64 * 1024

/**
 * Longest JSON-RPC method or tool name an MCP pack takes. MCP 2025-11-25 asks for tool names of
 * at most 128 characters; twice that leaves room, and bounds what a caller can put in the log
 * line, the X-Invoker claim and a rate-limit key.
 */
export const MCP_MAX_NAME_LENGTH = 256
