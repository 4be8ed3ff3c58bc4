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

/*
 * Rate-limit leases (issue 13). An isolate takes capacity from the store in leases and admits
 * from them locally; see src/pipeline/rate-limit/lease-table.ts and README "Rate limits".
 */

/**
 * Most units a lease takes beyond the requests already waiting for it. 128 keeps a hot invoker at
 * about 8 store round trips per 1,000 admitted requests (budget: 20) and a burst of 200 at two or
 * three, while bounding what one isolate can hold unspent when its traffic stops.
 */
export const LEASE_MAX_HEADROOM = 128

/**
 * How far ahead a lease provisions: its headroom is the counter's recent request rate in the
 * isolate times this. A caller seen once every few seconds gets no headroom at all (one store
 * call per request, exact as before); a hot one gets up to LEASE_MAX_HEADROOM.
 */
export const LEASE_HORIZON_MS = 250

/**
 * The store grants at most this share (1/n) of what it would have left as headroom, so leases
 * shrink geometrically near the limit: with two isolates, the second can hold at most half of
 * what the first left, and the last units are handed out one request at a time.
 */
export const LEASE_HEADROOM_DIVISOR = 2

/**
 * A lease older than this is renewed at the next request: its unspent units go back to the store
 * in the same call that takes the new lease, so capacity does not sit in a quiet isolate.
 */
export const LEASE_MAX_AGE_MS = 2_000

/**
 * After a store call for a counter failed or timed out, the isolate decides by the rule's
 * on_error for this long without calling the store again, so a slow store costs one
 * store_timeout per counter per second rather than one per request.
 */
export const STORE_FAILURE_BACKOFF_MS = 1_000

/**
 * A request waiting for a store call that another request started keeps a timer of its own, due
 * this long after the call's store_timeout: on Workers each request is its own I/O context, and
 * one that waits on another's I/O with nothing pending of its own is cancelled as hung. Should the
 * request that started the call be cancelled, the timer also ends the wait (as a timeout). The
 * margin leaves the starting request's own timer, due at store_timeout, time to decide first on a
 * busy isolate (workerd's clock advances only between events).
 */
export const STORE_WAIT_GRACE_MS = 250

/**
 * Counters one isolate keeps lease and refusal state for (each a few hundred bytes). The oldest
 * is forgotten first; its unspent units are lost until its window ends (under-admission, never
 * over-admission) and its refusals go back to the store.
 */
export const RATE_LIMIT_COUNTERS_MAX_ENTRIES = 10_000

/**
 * Default share of a rule's limit that one isolate admits on its own while the store is down
 * (`on_error: local`). A caller's traffic usually lands on one or two isolates, so half keeps it
 * near the limit and still serves it at a useful rate.
 */
export const DEFAULT_LOCAL_FRACTION = 0.5

/**
 * Kept on counters in the store beyond the moment they stop mattering, so a store clock a little
 * ahead of the gateway's never expires a counter early.
 */
export const STORE_TTL_SLACK_MS = 1_000

/**
 * How long one isolate trusts a runtime API key lookup (found or not found). A revocation or a
 * new key reaches every isolate within this bound; in the isolate that served the admin call,
 * at once. Misses are remembered too, so a flood of one forged key id costs one store read per
 * isolate per period.
 */
export const RUNTIME_KEY_CACHE_TTL_MS = 5_000

/** Runtime key lookups one isolate remembers (hits and misses); the oldest leaves first. */
export const RUNTIME_KEY_CACHE_MAX_ENTRIES = 10_000

/**
 * Durable Objects that hold runtime API keys. Key records are spread over this fixed set by a
 * hash of the key id, so random key ids can touch at most this many objects (issue 12 item 8).
 */
export const RUNTIME_KEY_SHARDS = 64

/** Stores (clients and their per-isolate state) one isolate keeps for distinct configurations. */
export const STORES_MAX_ENTRIES = 4
