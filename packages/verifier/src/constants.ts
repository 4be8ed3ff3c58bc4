/**
 * Every number and fixed string of the verifier, each with its reason. The Python package
 * (`packages/verifier-python`) uses the same values; the conformance vectors hold both to them.
 *
 * @module
 */

/** The `typ` of an X-Invoker token (RFC 8725 §3.11: explicit typing keeps other JWTs out). */
export const INVOKER_TOKEN_TYPE = 'invoker+jwt'

/** The header the gateway sets unless its policy names another (`header:` in `_gateway.yaml`). */
export const DEFAULT_HEADER_NAME = 'x-invoker'

/** Algorithms accepted unless the caller pins others: the gateway's asymmetric key types. */
export const DEFAULT_ALGORITHMS = ['EdDSA', 'ES256'] as const

/** Seconds of clock difference tolerated on `exp` and `iat`: small, the token lives 60 s. */
export const DEFAULT_CLOCK_TOLERANCE_S = 5

/**
 * Longest header value looked at; anything longer is refused before it is parsed, so a hostile
 * value costs little. Most gateway tokens are under 2 KiB, but the gateway signs meta of up to
 * 8,192 characters (up to 6 bytes each once JSON-escaped) and the request's URL (`htu`, up to
 * 16 KiB at Cloudflare's edge): 128 KiB holds the largest token the gateway can sign. A backend's
 * own header limit (Node: 16 KiB for all headers) applies before this one.
 */
export const MAX_TOKEN_LENGTH = 128 * 1024

/** JWKS refetched after this long (jose's default `cacheMaxAge`); the gateway serves max-age=300. */
export const JWKS_MAX_AGE_MS = 600_000

/**
 * The JWKS is fetched at most this often, counted from the last attempt, good or failed (jose's
 * default `cooldownDuration`): a stream of made-up kids, or of tokens while the endpoint fails,
 * costs one fetch per cooldown.
 */
export const JWKS_COOLDOWN_MS = 30_000

/**
 * How old the last good keys may grow while refreshes fail: an hour (six refresh periods), the
 * gateway's own default for its issuers' JWKS (`jwks_cache.stale`). Long enough that a JWKS
 * endpoint outage does not turn every request into a 503; short enough that a key the gateway
 * withdrew stops working within the hour even where the backend cannot reach the new set.
 */
export const JWKS_STALE_MS = 3_600_000

/** A JWKS fetch gives up after this long (jose's default `timeoutDuration`). */
export const JWKS_TIMEOUT_MS = 5_000

/**
 * Most token ids the in-memory replay cache holds. At the gateway's 60 s token lifetime this
 * covers ~1,600 requests a second to one backend process; past it the soonest-expiring id leaves
 * first (see replay.ts for what that means).
 */
export const REPLAY_CACHE_MAX_ENTRIES = 100_000
