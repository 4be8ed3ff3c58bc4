/**
 * What a verified bearer credential stands for, as the answer caches hold it: the mapped invoker
 * and the scopes the token grants (checked against each pack's requirements on every use, so an
 * answer cached for one pack never admits a token to another pack that needs more).
 *
 * @module
 */
import type { Authentication, JsonValue } from '../../../invoker.ts'
import { jsonBytes } from '../answer-cache.ts'

export interface Granted {
  readonly authentication: Authentication
  /** Shared by every request that reuses the answer: read, never changed. */
  readonly scopes: Set<string>
  /** The token's audiences the issuer knows, held against each pack's (`audienceAccepted`). */
  readonly audiences: readonly string[]
  /** When the token stops being valid by its own claims (authenticate/expiry.ts), if it says. */
  readonly expiresAt: number | null
}

/** Bytes a cached {@link Granted} holds, for the caches' byte bound. */
export function grantedBytes(granted: Granted): number {
  let bytes = jsonBytes(granted.authentication)
  for (const scope of granted.scopes) bytes += scope.length * 2 + 16
  for (const audience of granted.audiences) bytes += audience.length * 2 + 16
  return bytes
}

/**
 * Freezes a value that goes into a cache and is then shared by every request that hits it: a
 * step that changed it in place would otherwise change it for the next caller too.
 */
export function frozen<T extends Authentication>(authentication: T): T {
  deepFreeze(authentication.invoker.meta)
  Object.freeze(authentication.invoker)
  Object.freeze(authentication.auth)
  return Object.freeze(authentication)
}

function deepFreeze(value: JsonValue): void {
  if (typeof value !== 'object' || value === null) return
  for (const item of Object.values(value)) deepFreeze(item)
  Object.freeze(value)
}
