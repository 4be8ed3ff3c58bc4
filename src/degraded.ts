/**
 * Degraded inputs (issue 17, item 3): a request decided on something less than a fresh answer
 * says so in its log line (`degraded`) and its metric. Any step adds an entry when it decides
 * with such an input; the list exists only on the requests that need it (most requests never
 * allocate it).
 *
 * Kinds, each naming what was degraded (`source`) and, where it applies, how old the input
 * was (`stale_for`, whole seconds):
 *
 * - `jwks_stale`: an issuer's JWKS endpoint failed and its last good keys verified the token
 *   (`source` the issuer's name; `stale_for` the keys' age, which the issuer's
 *   `jwks_cache.stale` bounds).
 * - `directory_stale`: a Web Bot Auth key directory could not be refreshed and its last good
 *   copy was used (`source` its origin; `stale_for` the copy's age).
 * - `store_error`: a rate-limit store call failed and the rule's `on_error: allow` let the
 *   request through uncounted (`source` the rule id; no age).
 * - `store_local`: a rate-limit store call failed and the rule's `on_error: local` decided from
 *   the isolate's current lease and its in-isolate limiter (`source` the rule id; no age).
 * - `session_cached`, `introspection_cached`: a session or introspection answer was taken from
 *   the cache while the endpoint was failing, so it could not have been confirmed now
 *   (`source` the session endpoint's origin or the issuer's name; `stale_for` the answer's age).
 *
 * @module
 */
export type DegradedKind =
  | 'jwks_stale'
  | 'directory_stale'
  | 'store_error'
  | 'store_local'
  | 'session_cached'
  | 'introspection_cached'

export interface DegradedInput {
  kind: DegradedKind
  /** Which input: an issuer's or rule's name, a directory's origin. Never a credential. */
  source: string
  /** Seconds since the input was last fresh; `null` where age does not apply. */
  stale_for: number | null
  /** Why it was degraded (the failure the gateway met), as the log's `problem` words it. */
  problem: string | null
}

/** A step's way to note a degraded input without knowing the request's state (`RequestState.noteDegraded`). */
export type NoteDegraded = (entry: DegradedInput) => void

/** Whole seconds from `since` to `now` (an age in the log line). */
export function ageSeconds(since: number, now: number): number {
  return Math.max(0, Math.floor((now - since) / 1000))
}
