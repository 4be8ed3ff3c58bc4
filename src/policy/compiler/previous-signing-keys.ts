/**
 * `previous_signing_keys` in `_gateway.yaml`: public keys the gateway signed with before,
 * published in `/.well-known/jwks.json` beside the keys of `INVOKER_SIGNING_KEYS` until a date.
 * A rotation then needs only the new private key in the secret: the old public key lives in
 * policy (public material, fine to commit), so nobody has to keep the old secret around.
 *
 * Only what the gateway can sign with is accepted (EdDSA over Ed25519, ES256 over P-256; an
 * HS256 key is never published), and only public members are kept.
 *
 * @module
 */
import { hasShape, KEY_SHAPES, PRIVATE_MEMBERS, SIGNING_KEY_SHAPES } from '../../keys/jwk-shapes.ts'
import type { PreviousSigningKey } from '../types.ts'
import type { PolicyError } from './located.ts'
import type { RawGatewayFile } from './schema.ts'
import { parseInstant } from './instant.ts'

/** The part of the compiler's located document this section needs. */
interface GatewayDocument {
  value: RawGatewayFile
  error(path: readonly (string | number)[], message: string, onKey?: boolean): PolicyError
}

/** What the gateway can sign with and publish: never an HS256 key. */
const PUBLISHED: Record<string, 'Ed25519' | 'P-256'> = {
  EdDSA: SIGNING_KEY_SHAPES.EdDSA,
  ES256: SIGNING_KEY_SHAPES.ES256,
}

export function compilePreviousSigningKeys(gateway: GatewayDocument, errors: PolicyError[]): PreviousSigningKey[] {
  const out: PreviousSigningKey[] = []
  const kids = new Set<string>()
  gateway.value.previous_signing_keys.forEach((entry, i) => {
    const at = (...path: string[]): (string | number)[] => ['previous_signing_keys', i, ...path]
    const time = entry.until instanceof Date ? entry.until.getTime() : parseInstant(entry.until)
    if (time === null || Number.isNaN(time))
      errors.push(
        gateway.error(
          at('until'),
          'until is an ISO 8601 date (2027-06-30) or date-time with an offset (2027-06-30T10:00:00Z)',
        ),
      )
    const jwk = entry.jwk
    const privateMember = PRIVATE_MEMBERS.find((member) => member in jwk)
    if (privateMember) {
      errors.push(
        gateway.error(at('jwk'), `jwk is a public key: remove "${privateMember}" (never put a private key in policy)`),
      )
      return
    }
    const kid = jwk['kid']
    if (typeof kid !== 'string' || kid === '') {
      errors.push(gateway.error(at('jwk'), 'jwk needs the kid it was published with'))
      return
    }
    if (kids.has(kid)) errors.push(gateway.error(at('jwk', 'kid'), `kid "${kid}" is listed twice`))
    kids.add(kid)
    const alg = typeof jwk['alg'] === 'string' ? jwk['alg'] : ''
    const shapeName = Object.hasOwn(PUBLISHED, alg) ? PUBLISHED[alg] : undefined
    if (shapeName === undefined) {
      errors.push(gateway.error(at('jwk'), 'jwk needs alg EdDSA or ES256 (HS256 keys are never published)'))
      return
    }
    const shape = KEY_SHAPES[shapeName]
    if (!hasShape(jwk, shapeName) || shape.publicMembers.some((m) => typeof jwk[m] !== 'string')) {
      errors.push(
        gateway.error(
          at('jwk'),
          `an ${alg} key is kty ${shape.kty}, crv ${shape.crv} with ${shape.publicMembers.join(' and ')}`,
        ),
      )
      return
    }
    if (time === null || Number.isNaN(time)) return
    const publicJwk: Record<string, string> = { kty: shape.kty, crv: shape.crv, kid, alg, use: 'sig' }
    for (const member of shape.publicMembers) publicJwk[member] = jwk[member] as string
    out.push({ jwk: publicJwk, untilSeconds: Math.floor(time / 1000) })
  })
  return out
}
