/**
 * Policy errors that do not cascade and read in the gateway's words (issue 17, item 6): one
 * broken definition is one error, never a second one at each place that names it; a close name
 * gets a "did you mean"; an indentation mistake names its line and says what is off.
 */
import { describe, expect, it } from 'vitest'
import { compileErrors, TEST_GATEWAY } from '../support/policy.ts'

const KEY = `    key_id: "Ab12Cd34"\n    sha256: "${'0'.repeat(64)}"\n`
const pack = (extra = '', auth = '[api_key]') =>
  `pack: crm\nupstream: https://crm.example.com\nmatch: { path_prefix: /crm }\nauth: ${auth}\n${extra}`
const issuers = (jwksUri = 'https://idp.example.com/jwks') =>
  `issuer: https://gateway.test\nissuers:\n  idp:\n    issuer: https://idp.example.com\n    jwks_uri: ${jwksUri}\n    audience: agents\n    algorithms: [RS256]\n`
const signers = (algorithm = 'ed25519') =>
  `issuer: https://gateway.test\nsigners:\n  chat-host:\n    keyid: chat-host-1\n    algorithm: ${algorithm}\n    jwk: { kty: OKP, crv: Ed25519, x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }\n`

describe('one broken definition, one error', () => {
  it('a broken pack file: its own error, not a second one from the key that names the pack', () => {
    const gateway = `issuer: https://gateway.test\napi_keys:\n  ci-bot:\n${KEY}    packs: [crm]\n`
    expect(compileErrors({ crm: pack().replace('https://crm.example.com', 'ftp://crm') }, gateway)).toEqual([
      'policies/crm.yaml:2:11: upstream is an http(s) URL without query, fragment or credentials',
    ])
    // A pack file YAML cannot read: its own error only.
    expect(compileErrors({ crm: pack('deny: [\n') }, gateway)).toEqual([
      'policies/crm.yaml:6:1: a "{" or "[" opened on line 5 is not closed: close it on that line, or indent what continues it',
    ])
  })

  it('a broken issuer: its own error, not one at each pack that names it', () => {
    expect(compileErrors({ crm: pack('bearer: { issuers: [idp] }\n', '[bearer]') }, issuers('ftp://idp/jwks'))).toEqual(
      ['policies/_gateway.yaml:5:15: jwks_uri is an http(s) URL'],
    )
    expect(compileErrors({ crm: pack('', '[bearer]') }, issuers('ftp://idp/jwks'))).toEqual([
      'policies/_gateway.yaml:5:15: jwks_uri is an http(s) URL',
    ])
    const session = `${issuers('ftp://idp/jwks')}session:\n  cookies: [sid]\n  jwt: { issuer: idp }\n`
    expect(compileErrors({ crm: pack() }, session)).toEqual(['policies/_gateway.yaml:5:15: jwks_uri is an http(s) URL'])
  })

  it('a broken signer: its own error, not one at each pack that names it', () => {
    const errors = compileErrors(
      { crm: pack('envelope: { signers: [chat-host] }\n', '[envelope]') },
      signers('hmac-sha256'),
    )
    expect(errors).toEqual([
      'policies/_gateway.yaml:5:16: hmac-sha256 needs secret: NAME (a Worker secret holding the key)',
      'policies/_gateway.yaml:6:5: an HMAC signer has a secret, not a jwk',
    ])
  })

  it('a broken API key: its own error, not one at each rule that names it', () => {
    const gateway = `issuer: https://gateway.test\napi_keys:\n  ci-bot:\n${KEY}    expires: someday\n`
    expect(compileErrors({ crm: pack('allow: [{ api_key: ci-bot }]\n') }, gateway)).toEqual([
      'policies/_gateway.yaml:6:14: expires is not an ISO 8601 date (2027-06-30) or date-time with an offset (2027-06-30T10:00:00Z)',
    ])
  })

  it('still reports a name that nothing defines', () => {
    expect(compileErrors({ crm: pack('allow: [{ api_key: ghost }]\n') })).toEqual([
      'policies/crm.yaml:5:20: no API key is named "ghost" in _gateway.yaml',
    ])
  })
})

describe('did you mean', () => {
  it.each([
    [
      'an unknown key',
      pack('anonymus: allow\n'),
      TEST_GATEWAY,
      'policies/crm.yaml:5:1: unknown key "anonymus" (did you mean "anonymous"?)',
    ],
    [
      'an unknown nested key',
      pack().replace('{ path_prefix: /crm }', '{ path_prefx: /crm }'),
      TEST_GATEWAY,
      'policies/crm.yaml:3:10: unknown key "path_prefx" (did you mean "path_prefix"?)',
    ],
    [
      'an unknown key in _gateway.yaml',
      pack(),
      `${TEST_GATEWAY}token_tll: 30s\n`,
      'policies/_gateway.yaml:4:1: unknown key "token_tll" (did you mean "token_ttl"?)',
    ],
    [
      'a value of a fixed set',
      pack('mode: enforced\n'),
      TEST_GATEWAY,
      'policies/crm.yaml:5:7: mode: expected one of "enforce", "report" (did you mean "enforce"?)',
    ],
    [
      'an issuer name',
      pack('bearer: { issuers: [ipd] }\n', '[bearer]'),
      issuers(),
      'policies/crm.yaml:5:21: no issuer is named "ipd" in _gateway.yaml (did you mean "idp"?)',
    ],
    [
      'a signer name',
      pack('envelope: { signers: [chathost] }\n', '[envelope]'),
      signers(),
      'policies/crm.yaml:5:23: no signer is named "chathost" in _gateway.yaml (did you mean "chat-host"?)',
    ],
    [
      'an API key name',
      pack('allow: [{ api_key: ci-bto }]\n'),
      `issuer: https://gateway.test\napi_keys:\n  ci-bot:\n${KEY}`,
      'policies/crm.yaml:5:20: no API key is named "ci-bto" in _gateway.yaml (did you mean "ci-bot"?)',
    ],
    [
      'a rule field',
      pack('deny: [{ emial: x }]\n'),
      TEST_GATEWAY,
      'policies/crm.yaml:5:10: unknown rule field "emial" (did you mean "email"?)',
    ],
    [
      'an agent name',
      pack(
        'agents:\n  Search: { path: /search/** }\nrate_limits:\n  - { id: a, by: invoker, limit: 1, window: 1m, when: { agent: Serach } }\n',
      ),
      TEST_GATEWAY,
      'policies/crm.yaml:8:64: no agent is named "Serach" in this pack (did you mean "Search"?)',
    ],
    [
      'a pack name',
      pack(),
      `issuer: https://gateway.test\napi_keys:\n  ci-bot:\n${KEY}    packs: [crn]\n`,
      'policies/_gateway.yaml:6:13: no pack is named "crn" (did you mean "crm"?)',
    ],
  ])('for %s', (_, packText, gateway, expected) => {
    expect(compileErrors({ crm: packText }, gateway)).toEqual([expected])
  })

  it('says nothing when no name is close', () => {
    expect(compileErrors({ crm: pack('colour: blue\n') })).toEqual(['policies/crm.yaml:5:1: unknown key "colour"'])
  })
})

describe('indentation mistakes, in the gateway’s words and with their line', () => {
  const head = 'pack: crm\nupstream: https://crm.example.com\n'
  it.each([
    [
      'a key not indented under its map',
      `${head}match:\npath_prefix: /crm\nauth: [api_key]\n`,
      'policies/crm.yaml:4:1: "path_prefix" belongs under "match": indent it below "match:"',
    ],
    [
      'an agent’s key not indented under the agent',
      `${head}match: { path_prefix: /crm }\nauth: [api_key]\nagents:\n  Search:\n  path: /search/**\n`,
      'policies/crm.yaml:7:3: "path" belongs under "Search": indent it below "Search:"',
    ],
    [
      'a key indented deeper than the one above it',
      `${head}match:\n  path_prefix: /crm\n    host: crm.example.com\nauth: [api_key]\n`,
      'policies/crm.yaml:5:5: "host" is indented deeper than "path_prefix" on line 4, which has a value: keys of one map start in the same column (or leave "path_prefix:" without a value to put a map under it)',
    ],
    [
      'a key indented less than the one above it',
      `${head}match:\n  path_prefix: /crm\n host: crm.example.com\nauth: [api_key]\n`,
      'policies/crm.yaml:5:1: "host" is indented 1 space but "path_prefix" on line 4 is indented 2: keys of one map start in the same column',
    ],
    [
      'list items out of line',
      `${head}match: { path_prefix: /crm }\nauth: [api_key]\ndeny:\n- { id: a }\n  - { id: b }\n`,
      'policies/crm.yaml:7:3: this list item is indented 2 spaces but the one on line 6 is indented 0: items of one list start in the same column',
    ],
    [
      'a tab',
      `${head}match:\n\tpath_prefix: /crm\n`,
      'policies/crm.yaml:4:1: this line is indented with a tab: indent with spaces (two per level)',
    ],
    [
      'a key twice',
      `${head}match: { path_prefix: /crm }\nauth: [api_key]\nauth: [bearer]\n`,
      'policies/crm.yaml:5:1: "auth" appears twice in this map (first on line 4)',
    ],
    [
      'a key without its colon',
      `pack: crm\nupstream https://crm.example.com\nmatch: { path_prefix: /crm }\n`,
      'policies/crm.yaml:2:1: this line has no ":" after its key: write it as key: value',
    ],
  ])('%s', (_, text, expected) => {
    expect(compileErrors({ crm: text })).toEqual([expected])
  })
})
