/**
 * An issuer's JWKS key set as the Worker builds it, on a path of its own at the real HTTP server
 * of test/support/flaky.ts (which the tests script, turn down and up), and one verification
 * attempt against it. Shared by the tests of stale keys and of JWKS bodies jose refuses.
 */
import { env } from 'cloudflare:test'
import {
  type IssuerKeySource,
  issuerKeySources,
  KeySourceUnavailable,
} from '../../src/pipeline/authenticate/bearer/issuer-keys.ts'
import type { CompiledIssuer } from '../../src/policy/types.ts'

export const MIN = 60_000

type KeySet = Extract<IssuerKeySource, { kind: 'set' }>

/** Issuer `idp`'s key set at `path` (max_age 10 min, stale 1 h). */
export function keySetAt(path: string, cooldownMs: number): KeySet {
  const issuer = {
    name: 'idp',
    keys: {
      source: 'jwks_uri',
      url: `${env.TEST_FLAKY_ORIGIN}${path}`,
      maxAgeMs: 10 * MIN,
      cooldownMs,
      staleMs: 60 * MIN,
      timeoutMs: 2_000,
    },
  } as unknown as CompiledIssuer
  const source = issuerKeySources({ idp: issuer }).get('idp')
  if (source?.kind !== 'set') throw new Error('expected a key set')
  return source
}

/** Whether the set gives the key `k1` (ES256): `true`, `'unavailable'`, or the error. */
export async function works(source: KeySet): Promise<true | string> {
  try {
    await source.getKey({ alg: 'ES256', kid: 'k1' })
    return true
  } catch (error) {
    return error instanceof KeySourceUnavailable ? 'unavailable' : String(error)
  }
}
