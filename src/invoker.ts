/**
 * The one identity shape every authentication method produces and the backend receives
 * (SPEC §2). Kept free of any method-specific detail so that authorization and signing
 * never need to know how a caller was authenticated.
 *
 * @module
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

/** The kinds the gateway itself gives invokers. */
export const BUILT_IN_KINDS = ['authUser', 'apiKey', 'service', 'agent', 'chat', 'anonymous'] as const

/** Built-in kinds; policy may set an app-specific kind, hence the open string. */
export type InvokerKind = (typeof BUILT_IN_KINDS)[number] | (string & {})

export type AuthMethod = 'session' | 'api_key' | 'bearer' | 'envelope' | 'anonymous'

export interface Invoker {
  /** Stable, trusted caller id. Never a shared placeholder. */
  id: string
  kind: InvokerKind
  label?: string
  /** Policy-chosen facts. Never secrets, raw tokens or session payloads. */
  meta: Record<string, JsonValue>
}

/** How the invoker was established; becomes the `auth` claim of X-Invoker. */
export interface AuthFacts {
  method: AuthMethod
  /** Name of the API key (its policy name, never the key) when method is `api_key`. */
  api_key?: string
  /** Policy name of the token issuer when method is `bearer` (or a session JWT). */
  issuer?: string
  /** Policy name of the signer (or the key directory's origin) when method is `envelope`. */
  signer?: string
  /**
   * A signed request's body: `verified` when its Content-Digest was checked before any byte was
   * forwarded; `streamed` when the pack lets large signed bodies stream, so the backend reads
   * bytes that are checked only at their end (a mismatch aborts the request). Absent without a
   * signed body.
   */
  body?: 'verified' | 'streamed'
  /**
   * The user a delegating signer acts for (its `On-Behalf-Of` value), bare; the invoker id is
   * this name in the signer's namespace (`chat-host:alice`). Rules match it as `on_behalf_of`.
   */
  on_behalf_of?: string
}

export interface Authentication {
  invoker: Invoker
  auth: AuthFacts
}
