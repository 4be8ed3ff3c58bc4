/**
 * The one shape of an answer the gateway's verdict depends on: an authenticator's, a fetched
 * service's (introspection, a session endpoint, a key directory), a key source's, a store's.
 * Three cases, told apart by `kind`, never by which fields happen to be there:
 *
 * - `ok`: the answer, in `value`;
 * - `refused`: the source answered, and its answer is no (a token it calls inactive, a key it
 *   does not know, an error to give the caller), in `refusal`;
 * - `unavailable`: the source could not answer (down, too slow, a secret not set, an answer that
 *   is not one): never "valid", never "invalid", a 503 or the policy's `on_error` decides.
 *
 * @module
 */

/** Without a `Refusal` type, a source that only answers or fails (a key that imports or not). */
export type Outcome<T, Refusal = never> = Ok<T> | ([Refusal] extends [never] ? never : Refused<Refusal>) | Unavailable

export interface Ok<T> {
  readonly kind: 'ok'
  readonly value: T
}

export interface Refused<Refusal> {
  readonly kind: 'refused'
  readonly refusal: Refusal
}

export interface Unavailable {
  readonly kind: 'unavailable'
  /** What failed, for the log and a 503's detail: names the source, never what was sent to it. */
  readonly problem: string
  /** Which source (an issuer's name), when the caller cannot tell. */
  readonly source?: string
  /** Set when the source did not answer in time (a store's `store_timeout`), for the log's `timed_out`. */
  readonly timedOut?: boolean
}

/**
 * A decision that a fallback makes when its source cannot (a limit's `on_error`): `ok` or
 * `refused`, by the source or by the fallback, and `failure`, the `Unavailable` that explains why
 * the source did not decide (null when it did). Not an `Outcome`: a request that `on_error:
 * local` or `allow` admitted has an answer, not just a failure.
 */
export type Decided<T, Refusal> = (Ok<T> | Refused<Refusal>) & { readonly failure: Unavailable | null }

export const ok = <T>(value: T): Ok<T> => ({ kind: 'ok', value })

export const refused = <Refusal>(refusal: Refusal): Refused<Refusal> => ({ kind: 'refused', refusal })

export const unavailable = (problem: string, source?: string): Unavailable =>
  source === undefined ? { kind: 'unavailable', problem } : { kind: 'unavailable', problem, source }
