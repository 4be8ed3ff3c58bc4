/**
 * Issue 12 at build time and in `explain`: routes compared as the matcher compares them
 * (item 15), id namespaces (item 3), size limits on invokers written in policy (item 2), and
 * report mode in `explain` and the fixtures (item 16).
 */
import { describe, expect, it } from 'vitest'
import { compilePolicies, formatError } from '../../src/policy/compiler/compile.ts'
import { explain } from '../../src/policy/explain.ts'
import { runFixture } from '../../src/policy/fixtures.ts'
import { matchRoute } from '../../src/pipeline/route/match.ts'
import { compileErrors, compileYaml } from '../support/policy.ts'

const pack = (id: string, match: string, extra = ''): string => `
pack: ${id}
upstream: http://127.0.0.1:9000
match: ${match}
auth: [api_key]
${extra}`

describe('item 15: pack hosts are compared as the run-time matcher compares them', () => {
  it('item 15: host example.com and host example.com:8787 overlap, whichever file comes first', () => {
    const plain = pack('plain', '{ host: example.com, path_prefix: /packs/x }')
    const ported = pack('ported', '{ host: example.com:8787, path_prefix: /packs/x }')
    // Object order is file order: both orders are refused, each naming the later file.
    expect(compileErrors({ plain, ported })).toEqual([
      'policies/ported.yaml:4:8: the route of pack "ported" overlaps the route of pack "plain"',
    ])
    expect(compileErrors({ ported, plain })).toEqual([
      'policies/plain.yaml:4:8: the route of pack "plain" overlaps the route of pack "ported"',
    ])
    // A prefix under the other's prefix overlaps too, and a pack on every host overlaps both.
    const nested = pack('nested', '{ host: example.com:8787, path_prefix: /packs/x/y }')
    expect(compileErrors({ plain, nested })).toHaveLength(1)
    expect(compileErrors({ nested, plain })).toHaveLength(1)
  })

  it('item 15: what the build admits, the matcher routes one way only', () => {
    const a = pack('a', '{ host: example.com:8787, path_prefix: /packs/x }')
    const b = pack('b', '{ host: example.com:9000, path_prefix: /packs/x }')
    const c = pack('c', '{ host: other.example.com, path_prefix: /packs/x }')
    for (const packs of [
      { a, b, c },
      { c, b, a },
    ]) {
      const { policy } = compileYaml(packs)
      const routed = (url: string) => {
        const result = matchRoute(policy.packs, new URL(url))
        return result.ok ? result.match.pack.id : null
      }
      expect(routed('https://example.com:8787/packs/x/1')).toBe('a')
      expect(routed('https://example.com:9000/packs/x/1')).toBe('b')
      expect(routed('https://example.com/packs/x/1')).toBeNull()
      expect(routed('https://other.example.com:8787/packs/x/1')).toBe('c')
    }
  })

  it('item 15: a host the matcher could never see is refused: a default port, leading zeros, another spelling of an address', () => {
    expect(compileErrors({ a: pack('a', '{ host: example.com:443 }') })).toEqual([
      'policies/a.yaml:4:16: write the host as URLs spell it: example.com',
    ])
    expect(compileErrors({ a: pack('a', '{ host: example.com:80 }') })).toEqual([
      'policies/a.yaml:4:16: write the host as URLs spell it: example.com',
    ])
    expect(compileErrors({ a: pack('a', '{ host: example.com:08787 }') })).toEqual([
      'policies/a.yaml:4:16: write the host as URLs spell it: example.com:8787',
    ])
    expect(compileErrors({ a: pack('a', '{ host: 0x7f.1 }') })).toEqual([
      'policies/a.yaml:4:16: write the host as URLs spell it: 127.0.0.1',
    ])
    expect(compileErrors({ a: pack('a', '{ host: example.com:99999 }') })).toEqual([
      'policies/a.yaml:4:16: write the host as URLs spell it (a port is 1 to 65535)',
    ])
    expect(compileErrors({ a: pack('a', '{ host: Example.COM:8787 }') })).toEqual([])
  })
})

const JWK = '{ kty: OKP, crv: Ed25519, x: JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs }'
const signer = (name: string, keyid: string, extra: string) =>
  `  ${name}:\n    keyid: ${keyid}\n    algorithm: ed25519\n    jwk: ${JWK}\n${extra.replace(/^/gm, '    ')}\n`
const gatewayWith = (signers: string, rest = '') =>
  `issuer: https://gateway.test\n${signers === '' ? 'signers: {}\n' : `signers:\n${signers}`}${rest}`
const envelopePack = pack('chat', '{ path_prefix: /packs/chat }').replace('[api_key]', '[envelope]')
/** An HS256 issuer with an `id_prefix`, as a `issuers:` entry. */
const issuer = (name: string, prefix: string) =>
  `  ${name}:\n    issuer: https://${name}.test\n    secret: S\n    audience: x\n    algorithms: [HS256]\n    claims: { id_prefix: "${prefix}" }\n`

describe('item 3: id namespaces are kept apart at build time', () => {
  it('item 3: a delegating signer gets a namespace: its invoker id and ":", or its id_prefix', () => {
    const { policy } = compileYaml(
      { chat: envelopePack },
      gatewayWith(
        signer('chat-host', 'k1', 'delegate: true\ninvoker: { id: chat-host }') +
          signer('sched', 'k2', 'delegate: true\nid_prefix: "s:"') +
          signer('plain', 'k3', ''),
      ),
    )
    expect(policy.signers['chat-host']?.delegatedIdPrefix).toBe('chat-host:')
    expect(policy.signers['sched']?.delegatedIdPrefix).toBe('s:')
    expect(policy.signers['plain']?.delegatedIdPrefix).toBeNull()
    expect(policy.envelope.reservedUserPrefixes).toEqual(['anon:', 'apikey:', 'chat-host:', 's:'])
  })

  it.each([
    [
      'a namespace inside anon:',
      signer('a', 'k1', 'delegate: true\nid_prefix: "anon:x:"'),
      '',
      'could be taken for "anon:" ids',
    ],
    [
      'a namespace inside apikey:',
      signer('a', 'k1', 'delegate: true\nid_prefix: "apikey:bots:"'),
      '',
      'could be taken for "apikey:" ids',
    ],
    [
      'a namespace equal to anon: (the default for an invoker id "anon")',
      signer('a', 'k1', 'delegate: true\ninvoker: { id: anon }'),
      '',
      'could be taken for "anon:" ids',
    ],
    [
      'two signers sharing a namespace',
      signer('a', 'k1', 'delegate: true\nid_prefix: "chat:"') +
        signer('b', 'k2', 'delegate: true\nid_prefix: "chat:bot:"'),
      '',
      'could collide: give one another id_prefix',
    ],
    [
      'a namespace colliding with an issuer id_prefix',
      signer('a', 'k1', 'delegate: true\nid_prefix: "corp:"'),
      'issuers:\n  corp:\n    issuer: https://corp.test\n    secret: CORP\n    audience: x\n    algorithms: [HS256]\n    claims: { id_prefix: "corp:" }\n',
      'could collide with the ids of issuer "corp"',
    ],
    ['an id_prefix without delegate', signer('a', 'k1', 'id_prefix: "a:"'), '', 'it needs delegate: true'],
    ['an id_prefix without its ":"', signer('a', 'k1', 'delegate: true\nid_prefix: "chat"'), '', 'ending in ":"'],
    [
      "a signer id inside another signer's namespace",
      signer('a', 'k1', 'delegate: true\ninvoker: { id: chat }') + signer('b', 'k2', 'invoker: { id: "chat:alice" }'),
      '',
      'the id "chat:alice" falls into the "chat:" namespace',
    ],
    [
      'an API key id inside a namespace',
      signer('a', 'k1', 'delegate: true\ninvoker: { id: chat }'),
      `api_keys:\n  k:\n    key_id: AAAAAAAA\n    sha256: "${'0'.repeat(64)}"\n    invoker: { id: "chat:alice" }\n`,
      'the id "chat:alice" falls into the "chat:" namespace',
    ],
    [
      'an API key id posing as anonymous',
      '',
      `api_keys:\n  k:\n    key_id: AAAAAAAA\n    sha256: "${'0'.repeat(64)}"\n    invoker: { id: "anon:x" }\n`,
      'falls into the "anon:" namespace',
    ],
    [
      'an issuer whose every id is an API key id',
      '',
      'issuers:\n  corp:\n    issuer: https://corp.test\n    secret: CORP\n    audience: x\n    algorithms: [HS256]\n    claims: { id_prefix: "apikey:corp:" }\n',
      'every id of issuer "corp" would fall into the "apikey:" namespace',
    ],
  ])('item 3: refuses %s', (_, signers, rest, message) => {
    const errors = compileErrors(
      { chat: signers === '' ? pack('chat', '{ path_prefix: /packs/chat }') : envelopePack },
      gatewayWith(signers, rest),
    )
    expect(
      errors.some((e) => e.includes(message)),
      errors.join('\n'),
    ).toBe(true)
  })

  it('item 3: issuers without a prefix check their ids at run time; a prefix that keeps them apart needs no check', () => {
    const { policy } = compileYaml(
      { chat: envelopePack },
      gatewayWith(
        signer('a', 'k1', 'delegate: true\ninvoker: { id: chat }'),
        `issuers:\n${issuer('bare', '')}${issuer('corp', 'corp|')}${issuer('a', 'a')}`,
      ),
    )
    // Also the other issuers' prefixes: "bare" could otherwise issue "corp|alice" (red team 2, F3).
    expect(policy.issuers['bare']?.claims.reservedIdPrefixes).toEqual(['anon:', 'apikey:', 'chat:', 'corp|', 'a'])
    expect(policy.issuers['corp']?.claims.reservedIdPrefixes).toEqual([])
    // "a" + "non:x" is "anon:x": the Worker must look.
    expect(policy.issuers['a']?.claims.reservedIdPrefixes).toEqual(['anon:', 'apikey:'])
    // The signer's own id, "chat", for the issuer whose ids could equal it.
    expect(policy.issuers['bare']?.claims.reservedIds).toEqual(['chat'])
    expect(policy.issuers['corp']?.claims.reservedIds).toEqual([])
  })

  it("item 3: an issuer without a prefix may not issue ids in another issuer's or the session's namespace, nor a signer's or an API key's id", () => {
    const { policy } = compileYaml(
      { chat: envelopePack },
      gatewayWith(
        signer('bot', 'k1', 'invoker: { id: bot }'),
        `issuers:\n${issuer('a', '')}${issuer('b', 'b:')}${issuer('b2', 'b:')}` +
          'session:\n  cookies: [sid]\n  introspection: { endpoint: https://app.test/s, claims: { id_prefix: "app:" } }\n' +
          'api_keys:\n  svc:\n    key_id: AbCdEfGh\n    sha256: "' +
          '0'.repeat(64) +
          '"\n    invoker: { id: svc-1, kind: service }\n',
      ),
    )
    expect(policy.issuers['a']?.claims.reservedIdPrefixes).toEqual(['anon:', 'apikey:', 'b:', 'app:'])
    expect(policy.issuers['a']?.claims.reservedIds).toEqual(['bot', 'svc-1'])
    // Two issuers with one prefix share their users, as written; the session's namespace stays apart.
    expect(policy.issuers['b']?.claims.reservedIdPrefixes).toEqual([])
    expect(policy.issuers['b2']?.claims.reservedIdPrefixes).toEqual([])
    expect(policy.session?.verify.claims.reservedIdPrefixes).toEqual([])
    expect(policy.session?.verify.claims.reservedIds).toEqual([])
  })
})

describe('item 3: explain and the fixtures name a delegated user as the gateway does', () => {
  const gateway = gatewayWith(
    signer('chat-host', 'k1', 'delegate: true\ninvoker: { id: chat-host }') + signer('plain', 'k2', ''),
  )
  const chat = envelopePack + 'allow:\n  - { on_behalf_of: alice, meta.signer: chat-host }\n  - { id: apikey:ci-bot }\n'
  const { policy } = compileYaml({ chat }, gateway)
  const url = 'http://127.0.0.1:8787/packs/chat/ask'

  it('item 3: explain --signer --on-behalf-of: the namespaced id, matched by on_behalf_of', () => {
    const allowed = explain(policy, { method: 'GET', url }, { signer: 'chat-host', on_behalf_of: 'alice' }, 0)
    expect(allowed).toMatchObject({
      decision: 'allow',
      rule: 'allow[0]',
      invoker: { invoker: { id: 'chat-host:alice', kind: 'chat' }, auth: { on_behalf_of: 'alice' } },
    })
    expect(explain(policy, { method: 'GET', url }, { signer: 'chat-host', on_behalf_of: 'ci-bot' }, 0)).toMatchObject({
      decision: 'deny',
      reason: 'denied',
    })
    expect(
      explain(policy, { method: 'GET', url }, { signer: 'chat-host', on_behalf_of: 'apikey:ci-bot' }, 0),
    ).toMatchObject({ decision: 'unauthenticated', reason: 'envelope_invalid', status: 401 })
    expect(explain(policy, { method: 'GET', url }, { signer: 'plain', on_behalf_of: 'alice' }, 0)).toMatchObject({
      decision: 'unauthenticated',
    })
    expect(explain(policy, { method: 'GET', url }, { signer: 'plain' }, 0)).toMatchObject({
      decision: 'deny',
      invoker: { invoker: { id: 'signer:plain' } },
    })
  })

  it('item 3: fixtures take { signer, on_behalf_of }, and an unknown signer fails the build', () => {
    const fixtures = `
- name: alice through the chat host
  request: { url: "${url}" }
  invoker: { signer: chat-host, on_behalf_of: alice }
  expect: { decision: allow }
- name: the chat host cannot pass for the CI key
  request: { url: "${url}" }
  invoker: { signer: chat-host, on_behalf_of: "apikey:ci-bot" }
  expect: { decision: unauthenticated, reason: envelope_invalid }
`
    const files = {
      policies: [
        { path: 'policies/_gateway.yaml', text: gateway },
        { path: 'policies/chat.yaml', text: chat },
      ],
      fixtures: [{ path: 'policies/tests/chat.yaml', text: fixtures }],
    }
    const result = compilePolicies(files)
    if (!result.ok) throw new Error(result.errors.map(formatError).join('\n'))
    expect(result.fixtures.map((f) => runFixture(result.policy, f).mismatches)).toEqual([[], []])
    const unknown = compilePolicies({
      ...files,
      fixtures: [
        {
          path: 'policies/tests/chat.yaml',
          text: fixtures.replace('signer: chat-host, on_behalf_of: alice', 'signer: ghost'),
        },
      ],
    })
    expect(unknown.ok ? [] : unknown.errors.map(formatError)).toEqual([
      'policies/tests/chat.yaml:4:22: no signer is named "ghost" in _gateway.yaml',
    ])
  })
})

describe('item 2: invokers written in policy are held to the run-time limits', () => {
  it('item 2: refuses an oversized label, id or meta in policy', () => {
    const key = (invoker: string) =>
      `issuer: x\napi_keys:\n  k:\n    key_id: AAAAAAAA\n    sha256: "${'0'.repeat(64)}"\n    invoker: ${invoker}\n`
    const weather = pack('weather', '{ path_prefix: /w }')
    expect(compileErrors({ weather }, key(`{ label: "${'x'.repeat(257)}" }`))).toEqual([
      'policies/_gateway.yaml:6:14: invoker: label is longer than 256 characters',
    ])
    expect(compileErrors({ weather }, key(`{ id: "${'x'.repeat(257)}" }`))).toEqual([
      'policies/_gateway.yaml:6:14: invoker: id is longer than 256 characters',
    ])
    expect(
      compileErrors({ weather }, key(`{ meta: { groups: [${Array.from({ length: 257 }, () => 'g').join(', ')}] } }`)),
    ).toEqual(['policies/_gateway.yaml:6:14: invoker: meta.groups has more than 256 entries'])
    expect(compileErrors({ weather }, key(`{ label: "${'x'.repeat(256)}" }`))).toEqual([])
  })
})

describe('item 16: explain and the fixtures see report mode as the gateway does', () => {
  it('item 16: a caller without a credential is reported, not refused, in report mode', () => {
    const report = pack('r', '{ path_prefix: /r }', 'mode: report\nallow:\n  - { api_key: "*" }\n')
    const { policy } = compileYaml({ r: report })
    expect(
      explain(policy, { method: 'GET', url: 'http://x/r/1' }, { anonymous: true, ip: '192.0.2.1' }, 0),
    ).toMatchObject({
      decision: 'report',
      status: 200,
      reason: 'credential_missing',
      invoker: { invoker: { id: 'anon:192.0.2.1', kind: 'anonymous' } },
    })
    const enforced = compileYaml({ r: report.replace('mode: report', '') }).policy
    expect(
      explain(enforced, { method: 'GET', url: 'http://x/r/1' }, { anonymous: true, ip: '192.0.2.1' }, 0),
    ).toMatchObject({ decision: 'unauthenticated', reason: 'credential_missing' })
  })
})
