/** `previous_signing_keys` in _gateway.yaml: what the compiler accepts, keeps and refuses. */
import { describe, expect, it } from 'vitest'
import { compileErrors, compileYaml } from '../support/policy.ts'

const ED = { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'old-1', alg: 'EdDSA' }
const EC = {
  kty: 'EC',
  crv: 'P-256',
  x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
  y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
  kid: 'old-2',
  alg: 'ES256',
}

const gatewayWith = (entries: string): string => `issuer: https://gateway.test\nprevious_signing_keys:\n${entries}`
const entry = (jwk: object, until = '2027-01-01'): string => `  - until: ${until}\n    jwk: ${JSON.stringify(jwk)}\n`

describe('previous_signing_keys', () => {
  it('compiles public keys with their date, keeping only public members', () => {
    const { policy } = compileYaml(
      {},
      gatewayWith(entry({ ...ED, key_ops: ['verify'], ext: true }) + entry(EC, '2027-01-01T12:00:00Z')),
    )
    expect(policy.previousSigningKeys).toEqual([
      {
        jwk: { kty: 'OKP', crv: 'Ed25519', x: ED.x, kid: 'old-1', alg: 'EdDSA', use: 'sig' },
        untilSeconds: Date.UTC(2027, 0, 1) / 1000,
      },
      {
        jwk: { kty: 'EC', crv: 'P-256', x: EC.x, y: EC.y, kid: 'old-2', alg: 'ES256', use: 'sig' },
        untilSeconds: Date.UTC(2027, 0, 1, 12) / 1000,
      },
    ])
    expect(compileYaml({}).policy.previousSigningKeys).toEqual([])
  })

  it.each([
    ['a private key', entry({ ...ED, d: 'secret' }), 'policies/_gateway.yaml:4:10: jwk is a public key: remove "d"'],
    [
      'a symmetric key',
      entry({ kty: 'oct', k: 'c2VjcmV0', kid: 'h', alg: 'HS256' }),
      'jwk is a public key: remove "k"',
    ],
    ['a key without kid', entry({ ...ED, kid: undefined }), 'jwk needs the kid it was published with'],
    ['an algorithm the gateway never signs with', entry({ ...ED, alg: 'RS256' }), 'jwk needs alg EdDSA or ES256'],
    [
      'a key that does not fit its alg',
      entry({ ...ED, alg: 'ES256' }),
      'an ES256 key is kty EC, crv P-256 with x and y',
    ],
    ['a date that is no date', entry(ED, 'soon'), 'policies/_gateway.yaml:3:12: until is an ISO 8601 date'],
    ['one kid twice', entry(ED) + entry({ ...ED }), 'kid "old-1" is listed twice'],
  ])('refuses %s', (_, entries, message) => {
    const errors = compileErrors({}, gatewayWith(entries))
    expect(
      errors.some((e) => e.includes(message)),
      errors.join('\n'),
    ).toBe(true)
  })
})
