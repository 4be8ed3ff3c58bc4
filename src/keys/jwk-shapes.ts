/**
 * The JWK key types the gateway handles (RFC 7517 §4.1 `kty`, RFC 8037 §2 and RFC 7518 §6.2.1
 * `crv`), with the public members each carries: one table for every check of a key's type (the
 * gateway's own signing keys, the keys it published before, request signers' keys, key
 * directories), so that "an Ed25519 key" means the same thing to each of them.
 *
 * @module
 */

export interface KeyShape {
  kty: 'OKP' | 'EC' | 'RSA' | 'oct'
  /** The curve, for the key types that have one. */
  crv: string | null
  /** The members of the public key (RFC 8037 §2, RFC 7518 §6.2.1 and §6.3.1). */
  publicMembers: readonly string[]
}

export const KEY_SHAPES = {
  Ed25519: { kty: 'OKP', crv: 'Ed25519', publicMembers: ['x'] },
  'P-256': { kty: 'EC', crv: 'P-256', publicMembers: ['x', 'y'] },
  RSA: { kty: 'RSA', crv: null, publicMembers: ['n', 'e'] },
  oct: { kty: 'oct', crv: null, publicMembers: [] },
} as const satisfies Record<string, KeyShape>

export type KeyShapeName = keyof typeof KEY_SHAPES

/** The JOSE algorithms the gateway signs X-Invoker with (RFC 7518 §3.1, RFC 8037 §3.1), and the key each needs. */
export const SIGNING_KEY_SHAPES = { EdDSA: 'Ed25519', ES256: 'P-256', HS256: 'oct' } as const satisfies Record<
  string,
  KeyShapeName
>

/** Members that make a JWK private or symmetric (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2). */
export const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const

/** Whether `jwk` is a key of the shape's type (and curve); its members are checked where they are used. */
export function hasShape(jwk: { kty?: unknown; crv?: unknown }, shape: KeyShapeName): boolean {
  const { kty, crv } = KEY_SHAPES[shape]
  return jwk.kty === kty && (crv === null || jwk.crv === crv)
}

/** The shape a JWK is of, or null for a type the gateway does not handle. */
export function shapeOf(jwk: { kty?: unknown; crv?: unknown }): KeyShapeName | null {
  for (const name of Object.keys(KEY_SHAPES) as KeyShapeName[]) if (hasShape(jwk, name)) return name
  return null
}

/** "OKP Ed25519", "RSA": a shape in the words of a message. */
export function shapeText(shape: KeyShapeName): string {
  const { kty, crv } = KEY_SHAPES[shape]
  return crv === null ? kty : `${kty} ${crv}`
}
