"""The verifier's numbers, the same as the JS package's (packages/verifier/src/constants.ts)."""

#: The ``typ`` of an X-Invoker token (RFC 8725 §3.11: explicit typing keeps other JWTs out).
INVOKER_TOKEN_TYPE = "invoker+jwt"

#: The header the gateway sets unless its policy names another.
DEFAULT_HEADER_NAME = "x-invoker"

#: Algorithms accepted unless the caller pins others: the gateway's asymmetric key types.
DEFAULT_ALGORITHMS = ("EdDSA", "ES256")

#: Seconds of clock difference tolerated on ``exp`` and ``iat``: small, the token lives 60 s.
DEFAULT_CLOCK_TOLERANCE_S = 5

#: Longest header value looked at: the largest token the gateway can sign (meta of 8,192
#: characters, JSON-escaped, and a 16 KiB URL) fits; longer values are refused before parsing.
MAX_TOKEN_LENGTH = 128 * 1024

#: JWKS refetched after this long (jose's default in the JS package).
JWKS_MAX_AGE_S = 600

#: The JWKS is fetched at most this often, counted from the last attempt, good or failed.
JWKS_COOLDOWN_S = 30

#: How old the last good keys may grow while refreshes fail (the gateway's default for its issuers).
JWKS_STALE_S = 3600

#: A JWKS fetch gives up after this long.
JWKS_TIMEOUT_S = 5

#: Most token ids the in-memory replay cache holds (~1,600 requests/s at a 60 s lifetime).
REPLAY_CACHE_MAX_ENTRIES = 100_000
