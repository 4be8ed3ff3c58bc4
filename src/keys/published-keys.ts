/**
 * What `/.well-known/jwks.json` publishes: the public keys of `INVOKER_SIGNING_KEYS` first, then
 * the policy's `previous_signing_keys` whose date has not passed. A kid in both is published
 * once, as the secret has it (the secret is what signs; policy only keeps old keys visible).
 *
 * @module
 */
import type { JWK } from 'jose'
import type { PreviousSigningKey } from '../policy/types.ts'

export function publishedKeys(
  current: readonly JWK[],
  previous: readonly PreviousSigningKey[],
  nowSeconds: number,
): JWK[] {
  if (previous.length === 0) return current as JWK[]
  const kids = new Set(current.map((key) => key.kid))
  const still = previous.filter((key) => nowSeconds < key.untilSeconds && !kids.has(key.jwk['kid']))
  return still.length === 0 ? (current as JWK[]) : [...current, ...still.map((key) => key.jwk as JWK)]
}
