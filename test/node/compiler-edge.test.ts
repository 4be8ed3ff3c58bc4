/** The pack settings of issue 12 items 4, 17 and 18, through the real compiler. */
import { describe, expect, it } from 'vitest'
import { compileErrors, compileYaml } from '../support/policy.ts'

const pack = (extra: string, auth = 'auth: [envelope]'): string => `
pack: weather
upstream: http://127.0.0.1:9000
match: { path_prefix: /packs/weather }
${auth}
${extra}
`
const GATEWAY = `
issuer: https://gateway.test
signers:
  bot:
    keyid: bot-1
    algorithm: ed25519
    jwk: { kty: OKP, crv: Ed25519, x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }
`

describe('signed bodies, method overrides and strict paths', () => {
  it('defaults: 1 MiB verified bodies, no override, strict paths only on packs with agents', () => {
    const plain = compileYaml({ weather: pack('') }, GATEWAY).policy.packs[0]
    expect(plain).toMatchObject({
      signedBody: { limitBytes: 1024 * 1024, stream: false },
      methodOverride: [],
      strictPaths: false,
    })
    const withAgents = compileYaml({ weather: pack('agents:\n  A: { path: /a/** }') }, GATEWAY).policy.packs[0]
    expect(withAgents?.strictPaths).toBe(true)
    const relaxed = compileYaml({ weather: pack('strict_paths: false\nagents:\n  A: { path: /a/** }') }, GATEWAY).policy
      .packs[0]
    expect(relaxed?.strictPaths).toBe(false)
  })

  it('reads body_limit, stream_body and method_override', () => {
    const compiled = compileYaml(
      {
        weather: pack(
          'envelope: { body_limit: 256KiB, stream_body: true }\nmethod_override: [X-HTTP-Method-Override, x-http-method-override, X-Method-Override]',
        ),
      },
      GATEWAY,
    ).policy.packs[0]
    expect(compiled).toMatchObject({
      signedBody: { limitBytes: 256 * 1024, stream: true },
      methodOverride: ['x-http-method-override', 'x-method-override'],
    })
  })

  it.each([
    [
      'a body limit above what a Worker holds safely',
      'envelope: { body_limit: 9MiB }',
      'policies/weather.yaml:6:25: body_limit is between 1B and 8MiB',
    ],
    [
      'a zero body limit',
      'envelope: { body_limit: 0B }',
      'policies/weather.yaml:6:25: body_limit is between 1B and 8MiB',
    ],
    [
      'a size without a unit',
      'envelope: { body_limit: "1000" }',
      'policies/weather.yaml:6:25: envelope.body_limit: a size is a whole number and a unit',
    ],
    [
      'a header that overrides no method',
      'method_override: [X-Original-URL]',
      'policies/weather.yaml:6:19: method_override.0: a method-override header is',
    ],
    [
      'strict_paths that is no boolean',
      'strict_paths: maybe',
      'policies/weather.yaml:6:15: strict_paths: expected boolean',
    ],
  ])('refuses %s', (_, extra, message) => {
    expect(compileErrors({ weather: pack(extra) }, GATEWAY)[0]).toContain(message)
  })

  it('refuses body settings on a pack that does not take signed requests', () => {
    expect(compileErrors({ weather: pack('envelope: { body_limit: 1MiB }', 'auth: [api_key]') }, GATEWAY)[0]).toContain(
      'envelope settings on a pack that does not accept signed requests',
    )
  })
})
