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

/**
 * How much of a request's path (and host) a log line keeps: a caller chooses them, and a 60 KB
 * path made a 60 KB line (red team). Longer ones are cut here and end in `…`; the request
 * itself is decided and forwarded on the whole path.
 */
export const LOG_MAX_URL_PART = 2048

/** Length of the keyed hash that names an anonymous caller (base64url chars, 128 bits). */
export const ANONYMOUS_ID_HASH_CHARS = 22

/**
 * How much of an IPv6 address names one caller: anonymous ids and `by: ip` limits count an IPv6
 * address by its /64. A /64 is the smallest block an ISP hands one subscriber (RFC 6177, RIPE-690:
 * a /56 or /48 is usual, a /64 the floor, since interface ids are 64 bits: RFC 4291 §2.5.1),
 * so one subscriber may pick any of 2^64 addresses in it, and counting them one by one would give
 * one caller 2^64 ids and budgets. A multiple of 16 (whole groups). IPv4 counts the whole address.
 */
export const IPV6_SUBSCRIBER_PREFIX_BITS = 64

/** Where backends fetch the keys that verify X-Invoker (RFC 8615 well-known location). */
export const JWKS_PATH = '/.well-known/jwks.json'

/** The admin endpoint of runtime API keys (admin/keys-route.ts); `DELETE` takes a key id below it. */
export const ADMIN_KEYS_PATH = '/.well-known/invoker-gateway/keys'

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
/*
 * Limits on what a caller can get mapped into an invoker: token claims, introspection answers,
 * session endpoint answers, a delegated user name, a runtime key's invoker (issue 12, item 2).
 * Every such value is held against rules (glob matching is linear, but still per character)
 * and copied into every X-Invoker token, whose header a backend may cap at 8–16 KiB. A value
 * over a limit is refused (401, the log says `claim_too_large`), never cut short: a truncated
 * id or email could be someone else's. Policy-defined invokers are held to the same limits at
 * build time.
 */

/** Longest invoker id a caller can supply (a token's subject, a delegated user). OIDC Core §2 caps `sub` at 255 ASCII characters. */
export const MAX_INVOKER_ID_LENGTH = 256

/** Longest invoker label (a display name). */
export const MAX_INVOKER_LABEL_LENGTH = 256

/** Longest invoker kind a runtime key may set (policy kinds are short names too). */
export const MAX_INVOKER_KIND_LENGTH = 64

/** Longest email (`meta.email`): RFC 5321 §4.5.3.1 allows 64 octets of local part, `@`, 255 of domain. */
export const MAX_INVOKER_EMAIL_LENGTH = 320

/** Longest string anywhere in `meta` (a value or a key): room for a long scope list, not for a document. */
export const MAX_META_STRING_LENGTH = 1024

/** Most entries of one list (or members of one object) in `meta`: Azure AD stops listing groups at 200. */
export const MAX_META_ENTRIES = 256

/** Deepest nesting of lists and objects in `meta` (a top-level value is depth 1). */
export const MAX_META_DEPTH = 8

/** Most characters of all strings and keys in `meta` together: keeps X-Invoker well under a backend's 16 KiB header limit. */
export const MAX_META_TOTAL_CHARS = 8 * 1024
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
 * isolate times this. A caller seen less than once a second gets no headroom at all (one store
 * call per request, exact as before); a hot one gets up to LEASE_MAX_HEADROOM. A second, not
 * less: a burst still ramping up when its first call returns (a request or two in the first
 * milliseconds) must already earn most of the cap, or a burst of 200 takes four calls on a fast
 * store instead of three (measured on the Durable Object store with 250 ms). What an isolate can
 * hold unspent stays bounded by LEASE_MAX_HEADROOM and LEASE_HEADROOM_DIVISOR, not by this.
 */
export const LEASE_HORIZON_MS = 1_000

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

/**
 * Longest name (agent, rule, invoker kind, API key name) a metric data point carries. Workers
 * Analytics Engine drops a point whose blobs pass 16 KB; eleven blobs of 128 characters (384
 * bytes in UTF-8 at worst) stay far under it, and no real name is that long.
 */
export const METRIC_BLOB_MAX_CHARS = 128

/** Hex digits of the invoker id's SHA-256 a metric keeps for refused requests: 64 bits group without collisions in practice. */
export const METRIC_INVOKER_DIGEST_CHARS = 16

/**
 * Most runtime keys `keys list` returns (issue 17, item 5). Far above what a team mints by hand
 * or per deploy; it bounds the admin answer and the store reads behind it.
 */
export const MAX_LISTED_KEYS = 10_000

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
/*
 * Long-lived streams (issue 15): concurrency slots, rechecks of open streams, stream lifetimes and
 * stalled uploads. See src/pipeline/streams/ and README "Long streams".
 */

/** Default time between two checks of the credential behind an open SSE answer or WebSocket. */
export const DEFAULT_RECHECK_MS = 30_000

/**
 * Shortest `streams.recheck` a policy may set. A recheck costs at most one store read or endpoint
 * call per credential and period in an isolate, shared by its open streams; one second keeps
 * that bounded while letting tests (and demos) watch a revocation end a stream in seconds.
 * Production policies rarely want less than the default.
 */
export const MIN_RECHECK_MS = 1_000

/** Longest `streams.recheck`: a credential is never trusted unchecked on an open stream for longer. */
export const MAX_RECHECK_MS = 3_600_000

/** Shortest `streams.max_duration` and `streams.idle_timeout`. */
export const MIN_STREAM_LIMIT_MS = 1_000

/**
 * Default life of a concurrency slot in the store unless renewed. The slots of an isolate that
 * died (or lost its store) free within this long; renewing every third of it costs an open
 * request one store call per 10 s, shared by the requests of one key in an isolate.
 */
export const DEFAULT_CONCURRENCY_LEASE_MS = 30_000

/**
 * Shortest `concurrency_lease`: renewals come every third of it, and a renewal is a store round
 * trip that must come back well before the slot would expire (store_timeout is 500 ms by default).
 */
export const MIN_CONCURRENCY_LEASE_MS = 2_000

/** Longest `concurrency_lease`: slots lost with a dead isolate must not stay taken for long. */
export const MAX_CONCURRENCY_LEASE_MS = 600_000

/** A slot is renewed every 1/n of its lease: two renewals may fail before it expires. */
export const CONCURRENCY_RENEWALS_PER_LEASE = 3

/** Largest concurrency `limit`: a counter holds one entry per open request, in one store key. */
export const MAX_CONCURRENCY_LIMIT = 10_000

/**
 * Retry-After of a 429 from a concurrency rule. A slot frees when some request ends, which no
 * clock predicts; one second is the soonest a client should try again without hammering.
 */
export const CONCURRENCY_RETRY_AFTER_S = 1

/**
 * After the store refused a slot (the key is at its limit), the isolate refuses that key on its
 * own for this long, unless one of its own requests of that key ends meanwhile: a flood of one
 * caller costs one store call per period, and a slot another isolate freed is seen within it.
 */
export const CONCURRENCY_REFUSAL_MEMORY_MS = 250

/**
 * A slot whose request ended stays taken in the store, parked in its isolate, for at most this
 * long before it is given back (the parked slots of a key together, in one call): a request of
 * the same key that starts meanwhile in that isolate takes one over with no store call (a
 * client's next request on a warm connection; a steady stream of one key's requests then costs
 * almost no store calls). Short, because another isolate sees the slot as taken until then.
 */
export const CONCURRENCY_SLOT_PARK_MS = 100

/** Concurrency counters one isolate keeps state for (open slots, refusals); the oldest idle one leaves first. */
export const CONCURRENCY_COUNTERS_MAX_ENTRIES = 10_000

/** Default longest time no byte of a request body may move while it is sent upstream. */
export const DEFAULT_UPLOAD_IDLE_TIMEOUT_MS = 30_000

/** WebSocket close code for a stream the gateway ends (RFC 6455 §7.4.1: 1008, policy violation). */
export const WEBSOCKET_POLICY_CLOSE = 1008

/** RFC 6455 §5.5: a control frame's payload is at most 125 bytes, two of them the close code. */
export const MAX_CLOSE_REASON_BYTES = 123

/**
 * Shortest HMAC key the gateway signs or verifies with (RFC 7518 §3.2: at least the hash's size,
 * 256 bits for HS256). A shorter one is refused as unusable, never used.
 */
export const MIN_HMAC_KEY_BYTES = 32

/**
 * Shortest GATEWAY_ADMIN_TOKEN the admin endpoint accepts calls with (`openssl rand -base64 32`
 * gives 44 characters). The endpoint has no rate limit of its own, so its token must be too long
 * to guess; a shorter one leaves it answering 503.
 */
export const MIN_ADMIN_TOKEN_LENGTH = 32
