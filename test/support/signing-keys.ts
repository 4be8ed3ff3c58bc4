import { exportJWK, generateKeyPair, type JWK } from 'jose'

/** A fresh signing key set for a test run (the same shape `signing-keys generate` prints). */
export async function testSigningKeys(alg: 'EdDSA' | 'ES256' = 'EdDSA', kid = `test-${alg}`): Promise<{ keys: JWK[] }> {
  const { privateKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
  })
  return { keys: [{ ...(await exportJWK(privateKey)), alg, kid }] }
}
