/**
 * Issue 12 item 10: every key the policy holds is imported at build time, the way the Worker
 * imports it, and a key that would not import fails the build with file:line:col.
 */
import { spawnSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { formatError } from '../../src/policy/compiler/compile.ts'
import { compilePoliciesWithKeys } from '../../src/policy/compiler/key-imports.ts'

const PACK =
  'pack: signed\nupstream: http://127.0.0.1:9000\nmatch: { path_prefix: /packs/signed }\nauth: [envelope, bearer]\n'

const goodEd25519 = () => {
  const { kty, crv, x } = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' })
  return { kty, crv, x }
}
const goodP256 = () => {
  const { kty, crv, x, y } = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })
  return { kty, crv, x, y }
}

/** A gateway file; line numbers below count from its first line. */
function gatewayYaml(signerJwk: object, issuerKeys: object[]): string {
  return [
    'issuer: https://gateway.test', //                                  1
    'signers:', //                                                      2
    '  chat-host:', //                                                  3
    '    keyid: chat-host-1', //                                        4
    '    algorithm: ed25519', //                                        5
    `    jwk: ${JSON.stringify(signerJwk)}`, //                         6
    'issuers:', //                                                      7
    '  corp:', //                                                       8
    '    issuer: https://idp.example.com', //                           9
    '    audience: https://agents.example.com', //                      10
    '    algorithms: [ES256, EdDSA]', //                                11
    '    jwks:', //                                                     12
    '      keys:', //                                                   13
    ...issuerKeys.map((key) => `        - ${JSON.stringify(key)}`), //  14…
    '',
  ].join('\n')
}

const compile = (gateway: string) =>
  compilePoliciesWithKeys({
    policies: [
      { path: 'policies/_gateway.yaml', text: gateway },
      { path: 'policies/signed.yaml', text: PACK },
    ],
  })

describe('build-time key imports', () => {
  it('item 10: a signer key or an inline issuer key that does not import fails the build with file:line:col', async () => {
    // A point off the curve, an Ed25519 key of 3 bytes: both pass the schema and the kty checks.
    const offCurve = { ...goodP256(), y: goodP256().x }
    const result = await compile(gatewayYaml({ kty: 'OKP', crv: 'Ed25519', x: 'AAAA' }, [goodEd25519(), offCurve]))
    expect(result.ok).toBe(false)
    const errors = result.ok ? [] : result.errors.map(formatError)
    expect(errors).toHaveLength(2)
    expect(errors[0]).toMatch(/^policies\/_gateway\.yaml:6:10: the key does not import for ed25519: /)
    expect(errors[1]).toMatch(/^policies\/_gateway\.yaml:15:11: the key does not import for ES256: /)
  })

  it('item 10: keys that import pass, and a key no pinned algorithm uses is left alone (as the Worker does)', async () => {
    const rsaEnc = {
      ...generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }),
      use: 'enc',
    }
    const result = await compile(gatewayYaml(goodEd25519(), [goodEd25519(), goodP256(), rsaEnc]))
    expect(result.ok ? [] : result.errors.map(formatError)).toEqual([])
  })

  it('item 10: npm run build refuses the policy, naming the place', () => {
    const dir = mkdtempSync(join(tmpdir(), 'igw-keys-'))
    mkdirSync(join(dir, 'policies'))
    writeFileSync(
      join(dir, 'policies', '_gateway.yaml'),
      gatewayYaml({ kty: 'OKP', crv: 'Ed25519', x: 'AAAA' }, [goodEd25519()]),
    )
    writeFileSync(join(dir, 'policies', 'signed.yaml'), PACK)
    const run = spawnSync(
      process.execPath,
      ['src/cli/main.ts', 'build', '--policies', join(dir, 'policies'), '--out', join(dir, 'compiled.gen.ts')],
      { encoding: 'utf8' },
    )
    expect(run.status).toBe(1)
    expect(run.stderr).toMatch(/_gateway\.yaml:6:10: the key does not import for ed25519: /)
  })
})
