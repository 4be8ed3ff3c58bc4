import { describe, expect, it } from 'vitest'
import { compileErrors, compileYaml, TEST_GATEWAY } from '../support/policy.ts'

const ok = `
pack: weather
upstream: http://127.0.0.1:9000
match: { path_prefix: /packs/weather }
auth: [api_key]
`

describe('policy compiler', () => {
  it('compiles a pack with defaults filled in', () => {
    const { policy } = compileYaml({ weather: ok })
    expect(policy.gateway).toEqual({
      issuer: 'https://gateway.test',
      headerName: 'x-invoker',
      tokenTtlSeconds: 60,
      upstreamTimeoutMs: 30_000,
      storeTimeoutMs: 500,
      uploadIdleTimeoutMs: 30_000,
      concurrencyLeaseMs: 30_000,
    })
    expect(policy.packs[0]).toMatchObject({
      id: 'weather',
      upstream: 'http://127.0.0.1:9000',
      host: null,
      pathPrefix: '/packs/weather',
      stripPrefix: true,
      anonymous: false,
      mode: 'enforce',
      allow: null,
      deny: [],
      concurrency: [],
      streams: { maxDurationMs: null, idleTimeoutMs: null, recheckMs: 30_000, onError: 'allow' },
    })
  })

  it('compiles concurrency rules and stream settings (issue 15)', () => {
    const text =
      ok +
      'concurrency:\n  - { id: open, by: invoker, limit: 3 }\n  - { id: per-org, by: org, limit: 10, when: { method: post }, on_error: deny }\nstreams: { max_duration: 1h, idle_timeout: 5m, recheck: 5s, on_error: deny }\n'
    const { policy } = compileYaml(
      { weather: text },
      'issuer: https://gateway.test\nupload_idle_timeout: 10s\nconcurrency_lease: 2s\n',
    )
    expect(policy.gateway).toMatchObject({ uploadIdleTimeoutMs: 10_000, concurrencyLeaseMs: 2_000 })
    expect(policy.packs[0]?.concurrency).toEqual([
      {
        id: 'open',
        by: 'invoker',
        limit: 3,
        when: { kinds: null, methods: null, agents: null },
        onError: 'local',
        localLimit: 1,
      },
      {
        id: 'per-org',
        by: 'org',
        limit: 10,
        when: { kinds: null, methods: ['POST'], agents: null },
        onError: 'deny',
        localLimit: 5,
      },
    ])
    expect(policy.packs[0]?.streams).toEqual({
      maxDurationMs: 3_600_000,
      idleTimeoutMs: 300_000,
      recheckMs: 5_000,
      onError: 'deny',
    })
  })

  it.each([
    ['a concurrency lease under 2s', 'concurrency_lease: 1s\n', 'concurrency_lease is between 2s and 10m'],
    ['a concurrency lease over 10m', 'concurrency_lease: 11m\n', 'concurrency_lease is between 2s and 10m'],
    ['an upload idle timeout under a second', 'upload_idle_timeout: 500ms\n', 'upload_idle_timeout is at least 1s'],
  ])('refuses %s in _gateway.yaml', (_, extra, message) => {
    const errors = compileErrors({ weather: ok }, `issuer: https://gateway.test\n${extra}`)
    expect(
      errors.some((e) => e.startsWith('policies/_gateway.yaml:2:') && e.includes(message)),
      errors.join('\n'),
    ).toBe(true)
  })

  it('refuses a store_timeout over a third of concurrency_lease when a pack has concurrency rules (a slow store could hand out expired slots)', () => {
    const limited = ok + 'concurrency:\n  - { id: open, by: invoker, limit: 3 }\n'
    const errors = compileErrors(
      { weather: limited },
      'issuer: https://gateway.test\nstore_timeout: 2s\nconcurrency_lease: 3s\n',
    )
    expect(
      errors.some(
        (e) =>
          e.startsWith('policies/_gateway.yaml:2:') &&
          e.includes('store_timeout is at most a third of concurrency_lease (3s)'),
      ),
      errors.join('\n'),
    ).toBe(true)
    expect(
      compileErrors({ weather: limited }, 'issuer: https://gateway.test\nstore_timeout: 1s\nconcurrency_lease: 3s\n'),
    ).toEqual([])
    // Without concurrency rules the lease is unused, and store_timeout only bounds rate limits.
    expect(
      compileErrors({ weather: ok }, 'issuer: https://gateway.test\nstore_timeout: 2s\nconcurrency_lease: 3s\n'),
    ).toEqual([])
  })

  it('reads ${VAR} and ${VAR:-default} in upstream from the build environment', () => {
    const pack = ok.replace('http://127.0.0.1:9000', 'http://127.0.0.1:${PORT:-1234}/api')
    expect(compileYaml({ weather: pack }).policy.packs[0]?.upstream).toBe('http://127.0.0.1:1234/api')
    expect(compileYaml({ weather: pack }, TEST_GATEWAY, { PORT: '99' }).policy.packs[0]?.upstream).toBe(
      'http://127.0.0.1:99/api',
    )
    expect(compileErrors({ weather: ok.replace('http://127.0.0.1:9000', 'https://${HOST}') })).toEqual([
      'policies/weather.yaml:3:11: upstream needs the build environment variable HOST',
    ])
  })

  it.each([
    ['an unknown key', ok + 'upstrem: x\n', 'policies/weather.yaml:6:1: unknown key "upstrem"'],
    ['a wrong type', ok.replace('auth: [api_key]', 'auth: api_key'), 'policies/weather.yaml:5:7: auth: expected array'],
    [
      'a wrong enum value',
      ok + 'mode: enforced\n',
      'policies/weather.yaml:6:7: mode: expected one of "enforce", "report"',
    ],
    ['a missing field', ok.replace(/upstream.*\n/, ''), 'policies/weather.yaml:2:1: upstream: is required'],
    ['bad YAML', ok + 'allow: [\n', 'policies/weather.yaml:7:1:'],
    [
      'a duplicate key',
      ok + 'auth: [api_key]\n',
      'policies/weather.yaml:6:1: "auth" appears twice in this map (first on line 5)',
    ],
    [
      'a pack id that is not its file name',
      ok.replace('pack: weather', 'pack: climate'),
      'policies/weather.yaml:2:7: pack id "climate" must equal the file name "weather"',
    ],
    [
      'an unsupported scheme',
      ok.replace('http://127.0.0.1:9000', 'ftp://x'),
      'policies/weather.yaml:3:11: upstream is an http(s) URL',
    ],
    [
      'a path prefix with dot segments',
      ok.replace('/packs/weather', '/packs/../weather'),
      'policies/weather.yaml:4:23: path_prefix is a normalized path',
    ],
    [
      'an agent without a path',
      ok + 'agents:\n  A: { allow: [] }\n',
      'policies/weather.yaml:7:6: agents.A.path: is required',
    ],
    [
      'an agent path with a partial wildcard',
      ok + 'agents:\n  A: { path: /a/b* }\n',
      'policies/weather.yaml:7:14: segment "b*"',
    ],
    [
      'overlapping agents',
      ok + 'agents:\n  A: { path: /a/** }\n  B: { path: /a/b }\n',
      'policies/weather.yaml:8:14: agent "B" overlaps agent "A"',
    ],
    [
      'a rate limit with a bad window',
      ok + 'rate_limits:\n  - { id: x, by: ip, limit: 10, window: 1 minute }\n',
      'policies/weather.yaml:7:41: rate_limits.0.window: a duration is',
    ],
    [
      'a rate limit keyed by nothing known',
      ok + 'rate_limits:\n  - { id: x, by: user, limit: 10, window: 1m }\n',
      'policies/weather.yaml:7:18: rate_limits.0.by: by is one of',
    ],
    [
      'a rate limit window under a second',
      ok + 'rate_limits:\n  - { id: x, by: ip, limit: 10, window: 500ms }\n',
      'policies/weather.yaml:7:41: a rate limit window is between 1s and 1d',
    ],
    [
      'a rate limit window over a day',
      ok + 'rate_limits:\n  - { id: x, by: ip, limit: 10, window: 2d }\n',
      'policies/weather.yaml:7:41: a rate limit window is between 1s and 1d',
    ],
    [
      'a zero limit',
      ok + 'rate_limits:\n  - { id: x, by: ip, limit: 0, window: 1m }\n',
      'policies/weather.yaml:7:29: rate_limits.0.limit:',
    ],
    [
      'two rate limits with one id',
      ok +
        'rate_limits:\n  - { id: x, by: ip, limit: 1, window: 1m }\n  - { id: x, by: invoker, limit: 1, window: 1m }\n',
      'policies/weather.yaml:8:11: rate limit id "x" is used twice',
    ],
    [
      'a rate limit by api_key on a pack without API keys',
      ok.replace('auth: [api_key]', 'auth: []\nanonymous: allow') +
        'rate_limits:\n  - { id: x, by: api_key, limit: 1, window: 1m }\n',
      'policies/weather.yaml:8:18: by: api_key counts API keys, but this pack does not accept them',
    ],
    [
      'a rate limit by agent in a pack without agents',
      ok + 'rate_limits:\n  - { id: x, by: agent, limit: 1, window: 1m }\n',
      'policies/weather.yaml:7:18: by: agent counts per agent',
    ],
    [
      'a rate limit for an unknown agent',
      ok +
        'agents:\n  A: { path: /a }\nrate_limits:\n  - { id: x, by: invoker, limit: 1, window: 1m, when: { agent: [A, B] } }\n',
      'policies/weather.yaml:9:68: no agent is named "B"',
    ],
    [
      'a rate limit for a method that is no method',
      ok + 'rate_limits:\n  - { id: x, by: invoker, limit: 1, window: 1m, when: { method: "GE T" } }\n',
      'policies/weather.yaml:7:65: "GE T" is not an HTTP method',
    ],
    [
      'a rule naming an unknown key',
      ok + 'allow: [{ api_key: ghost }]\n',
      'policies/weather.yaml:6:20: no API key is named "ghost"',
    ],
    ['an unknown rule field', ok + 'deny: [{ user: x }]\n', 'policies/weather.yaml:6:10: unknown rule field "user"'],
    ['an empty rule', ok + 'allow: [{}]\n', 'policies/weather.yaml:6:9: an empty rule would match everyone'],
    [
      'envelope without any signer',
      ok.replace('[api_key]', '[api_key, envelope]'),
      'policies/weather.yaml:5:7: auth: envelope needs a signer or a key directory',
    ],
    [
      'envelope settings without envelope',
      ok + 'envelope: { cover: [content-type] }\n',
      'policies/weather.yaml:6:1: envelope settings on a pack that does not accept signed requests',
    ],
    [
      'a method listed twice',
      ok.replace('[api_key]', '[api_key, api_key]'),
      'policies/weather.yaml:5:17: auth method "api_key" is listed twice',
    ],
    [
      'bearer without any issuer',
      ok.replace('[api_key]', '[api_key, bearer]'),
      'policies/weather.yaml:5:7: auth: bearer needs at least one entry under issuers',
    ],
    [
      'session without a session section',
      ok.replace('[api_key]', '[session]'),
      'policies/weather.yaml:5:7: auth: session needs a session section',
    ],
    [
      'bearer settings without bearer',
      ok + 'bearer: { issuers: [idp] }\n',
      'policies/weather.yaml:6:1: bearer settings on a pack that does not accept bearer tokens',
    ],
    [
      'a CORS origin with a path',
      ok + 'cors: { origins: [https://app.example.com/] }\n',
      'policies/weather.yaml:6:19: cors.origins.0: an origin is scheme://host[:port]',
    ],
    [
      'a scope with a quote',
      ok + "bearer: { scopes: { all_of: ['a\"b'] } }\n",
      'policies/weather.yaml:6:30: bearer.scopes.all_of.0: a scope is printable ASCII',
    ],
    [
      'a pack nobody can call',
      ok.replace('auth: [api_key]', 'auth: []'),
      'policies/weather.yaml:5:7: the pack accepts no auth method and denies anonymous callers',
    ],
    [
      'a concurrency limit above the largest',
      ok + 'concurrency:\n  - { id: c, by: invoker, limit: 10001 }\n',
      'policies/weather.yaml:7:34: a concurrency limit is at most 10000',
    ],
    [
      "a concurrency rule with a rate limit's id",
      ok +
        'rate_limits:\n  - { id: x, by: ip, limit: 1, window: 1m }\nconcurrency:\n  - { id: x, by: invoker, limit: 1 }\n',
      'policies/weather.yaml:9:11: rule id "x" is used twice in this pack',
    ],
    [
      'a concurrency rule with a window',
      ok + 'concurrency:\n  - { id: c, by: invoker, limit: 1, window: 1m }\n',
      'policies/weather.yaml:7:',
    ],
    [
      'a concurrency rule by agent in a pack without agents',
      ok + 'concurrency:\n  - { id: c, by: agent, limit: 1 }\n',
      'policies/weather.yaml:7:18: by: agent counts per agent',
    ],
    [
      'local_fraction without on_error: local',
      ok + 'concurrency:\n  - { id: c, by: invoker, limit: 4, on_error: deny, local_fraction: 0.5 }\n',
      'policies/weather.yaml:7:',
    ],
    [
      'a recheck under the floor',
      ok + 'streams: { recheck: 500ms }\n',
      'policies/weather.yaml:6:21: recheck is between 1s and 1h',
    ],
    [
      'a max_duration under a second',
      ok + 'streams: { max_duration: 10ms }\n',
      'policies/weather.yaml:6:26: max_duration is at least 1s',
    ],
    [
      'an unknown stream setting',
      ok + 'streams: { max_lifetime: 1h }\n',
      'policies/weather.yaml:6:12: unknown key "max_lifetime"',
    ],
  ])('refuses %s with file:line:col', (_, text, message) => {
    const errors = compileErrors({ weather: text })
    expect(
      errors.some((e) => e.startsWith(message)),
      errors.join('\n'),
    ).toBe(true)
  })

  const issuers = `
issuer: https://gateway.test
issuers:
  idp:
    issuer: https://idp.example.com
    jwks_uri: https://idp.example.com/jwks
    audience: https://agents.example.com
    algorithms: [RS256, ES256]
    introspection: { endpoint: https://idp.example.com/introspect, client_id: gw, client_secret: IDP_SECRET }
    claims: { label: name, meta: { org: org_id, roles: realm_access.roles } }
  partner:
    issuer: https://partner.example.com
    secret: PARTNER_SECRET
    audience: https://agents.example.com
    algorithms: [HS256]
session:
  cookies: [better-auth.session_token]
  introspection: { endpoint: https://app.example.com/api/auth/get-session }
`
  const bearerPack =
    ok.replace('[api_key]', '[bearer, session]') +
    'bearer: { issuers: [idp], scopes: { all_of: "agents:read agents:write", any_of: [admin] } }\ncors: { origins: [https://app.example.com] }\n'

  it('compiles issuers, sessions, scopes and CORS at build time', () => {
    const { policy } = compileYaml({ weather: bearerPack }, issuers)
    expect(policy.issuers['idp']).toEqual({
      name: 'idp',
      issuer: 'https://idp.example.com',
      audiences: ['https://agents.example.com'],
      algorithms: ['RS256', 'ES256'],
      typ: null,
      clockToleranceSeconds: 30,
      maxTokenAgeSeconds: null,
      keys: {
        source: 'jwks_uri',
        url: 'https://idp.example.com/jwks',
        maxAgeMs: 600_000,
        cooldownMs: 30_000,
        staleMs: 3_600_000,
        timeoutMs: 2_000,
      },
      introspection: {
        endpoint: 'https://idp.example.com/introspect',
        clientId: 'gw',
        clientSecretName: 'IDP_SECRET',
        cacheTtlMs: 60_000,
        negativeTtlMs: 10_000,
        timeoutMs: 2_000,
      },
      claims: {
        id: [['sub'], ['client_id']],
        idPrefix: '',
        reservedIdPrefixes: ['anon:', 'apikey:'],
        reservedIds: [],
        kind: 'service',
        label: ['name'],
        email: null,
        meta: [
          { field: 'org', path: ['org_id'] },
          { field: 'roles', path: ['realm_access', 'roles'] },
        ],
      },
      mcpResources: [],
    })
    expect(policy.issuers['partner']?.keys).toEqual({ source: 'secret', secretName: 'PARTNER_SECRET' })
    expect(policy.session).toMatchObject({
      cookies: ['better-auth.session_token'],
      verify: {
        by: 'introspection',
        cacheTtlMs: 30_000,
        negativeTtlMs: 5_000,
        claims: { id: [['user', 'id']], kind: 'authUser', label: ['user', 'name'], email: ['user', 'email'] },
      },
    })
    expect(policy.packs[0]).toMatchObject({
      auth: ['bearer', 'session'],
      bearerIssuers: ['idp'],
      requiredScopes: { all: ['agents:read', 'agents:write'], any: ['admin'] },
      cors: {
        origins: ['https://app.example.com'],
        credentials: true,
        maxAgeSeconds: 600,
        allowHeaders: [],
        exposeHeaders: [],
      },
    })
  })

  it.each([
    [
      'an HMAC algorithm on public keys',
      (g: string) => g.replace('[RS256, ES256]', '[RS256, HS256]'),
      '_gateway.yaml:8:17: HS256 needs a shared secret',
    ],
    [
      'a shared secret with an asymmetric algorithm',
      (g: string) => g.replace('[HS256]', '[HS256, RS256]'),
      '_gateway.yaml:15:17: a shared secret verifies only HS256',
    ],
    [
      'two key sources',
      (g: string) =>
        g.replace(
          '    secret: PARTNER_SECRET',
          '    secret: PARTNER_SECRET\n    jwks_uri: https://partner.example.com/jwks',
        ),
      'an issuer has one key source',
    ],
    [
      'no key source',
      (g: string) => g.replace('    secret: PARTNER_SECRET\n', ''),
      '_gateway.yaml:12:5: an issuer needs a key source',
    ],
    [
      'a secret written into the policy',
      (g: string) => g.replace('secret: PARTNER_SECRET', 'secret: hunter2'),
      '_gateway.yaml:13:13: issuers.partner.secret: name the Worker secret',
    ],
    [
      'two configurations for one iss',
      (g: string) => g.replace('https://partner.example.com', 'https://idp.example.com'),
      '_gateway.yaml:12:13: issuer "https://idp.example.com" is already configured as "idp"',
    ],
    [
      'a private key inline',
      (g: string) =>
        g
          .replace('    secret: PARTNER_SECRET', '    jwks: { keys: [{ kty: OKP, crv: Ed25519, x: abc, d: def }] }')
          .replace('[HS256]', '[EdDSA]'),
      '_gateway.yaml:13:20: inline keys are public keys',
    ],
    [
      'a session verified two ways',
      (g: string) => g.replace('session:\n', 'session:\n  jwt: { issuer: idp }\n'),
      '_gateway.yaml:17:3: a session is verified one way',
    ],
    [
      'a session JWT of an unknown issuer',
      (g: string) => g.replace(/ {2}introspection: \{ endpoint: https:\/\/app.*\n/, '  jwt: { issuer: nobody }\n'),
      'no issuer is named "nobody"',
    ],
  ])('refuses %s in the gateway file', (_, edit, message) => {
    const errors = compileErrors({ weather: bearerPack }, edit(issuers))
    expect(
      errors.some((e) => e.includes(message)),
      errors.join('\n'),
    ).toBe(true)
  })

  it('refuses a pack that would send opaque tokens to two introspection endpoints, and unknown issuer names', () => {
    const two = issuers
      .replace(
        '    secret: PARTNER_SECRET',
        '    introspection: { endpoint: https://partner.example.com/introspect, client_id: gw, client_secret: P }',
      )
      .replace('[HS256]', '[RS256]')
    const pack = ok.replace('[api_key]', '[bearer]')
    expect(compileErrors({ weather: pack }, two)).toEqual([
      'policies/weather.yaml:5:7: the pack would accept opaque tokens from idp and partner: name at most one issuer with introspection under bearer.issuers',
    ])
    expect(compileErrors({ weather: pack + 'bearer: { issuers: [idp, ghost] }\n' }, issuers)).toEqual([
      'policies/weather.yaml:6:26: no issuer is named "ghost" in _gateway.yaml',
    ])
  })

  const signersYaml = `
issuer: https://gateway.test
signers:
  chat-host:
    keyid: chat-host-1
    algorithm: ed25519
    jwk: { kty: OKP, crv: Ed25519, x: JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs }
    delegate: true
  hmac-bot:
    keyid: hmac-1
    algorithm: hmac-sha256
    secret: HMAC_BOT_SECRET
key_directories:
  - origin: https://bots.example.com
`
  const envelopePack = ok.replace('[api_key]', '[envelope]')

  it('compiles signers, key directories and the envelope settings', () => {
    const { policy } = compileYaml(
      { weather: envelopePack + 'envelope: { cover: [content-type, "@query-param;name=q"] }\n' },
      signersYaml,
    )
    expect(policy.signers['chat-host']).toEqual({
      name: 'chat-host',
      keyId: 'chat-host-1',
      algorithm: 'ed25519',
      jwk: { kty: 'OKP', crv: 'Ed25519', x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs' },
      secretName: null,
      delegate: true,
      delegatedIdPrefix: 'signer:chat-host:',
      invoker: { id: 'signer:chat-host', kind: 'agent', meta: {} },
    })
    expect(policy.signers['hmac-bot']).toMatchObject({ secretName: 'HMAC_BOT_SECRET', jwk: null, delegate: false })
    expect(policy.keyDirectories).toEqual([
      { origin: 'https://bots.example.com', invoker: { id: 'https://bots.example.com', kind: 'agent', meta: {} } },
    ])
    expect(policy.envelope).toEqual({
      maxAgeSeconds: 300,
      clockSkewSeconds: 30,
      nonceRequired: true,
      delegationHeader: 'on-behalf-of',
      directoryTimeoutMs: 2000,
      directoryCacheMs: 600_000,
      directoryStaleMs: 3_600_000,
      reservedUserPrefixes: ['anon:', 'apikey:', 'signer:chat-host:'],
    })
    expect(policy.packs[0]?.envelope).toEqual({
      signers: ['chat-host', 'hmac-bot'],
      directories: ['https://bots.example.com'],
      cover: ['content-type', '@query-param;name=q'],
    })
  })

  it.each([
    [
      'an HMAC signer without a secret',
      (g: string) => g.replace('    secret: HMAC_BOT_SECRET\n', ''),
      'hmac-sha256 needs secret: NAME',
    ],
    [
      'an asymmetric signer with a secret',
      (g: string) => g.replace('    delegate: true', '    delegate: true\n    secret: X'),
      'ed25519 verifies with a public key (jwk), not a secret',
    ],
    [
      'a key of the wrong type',
      (g: string) => g.replace('algorithm: ed25519', 'algorithm: ecdsa-p256-sha256'),
      'ecdsa-p256-sha256 needs a EC P-256 key',
    ],
    ['a private key', (g: string) => g.replace('x: JrQ', 'd: abc, x: JrQ'), 'jwk is a public key'],
    [
      'two signers with one keyid',
      (g: string) => g.replace('keyid: hmac-1', 'keyid: chat-host-1'),
      'keyid "chat-host-1" is already used by signer "chat-host"',
    ],
    [
      'an unknown algorithm',
      (g: string) => g.replace('algorithm: ed25519', 'algorithm: rsa-sha1'),
      'signers.chat-host.algorithm: expected one of',
    ],
  ])('refuses %s', (_, edit, message) => {
    const errors = compileErrors({ weather: envelopePack }, edit(signersYaml))
    expect(
      errors.some((e) => e.includes(message)),
      errors.join('\n'),
    ).toBe(true)
  })

  it('refuses a pack naming an unknown signer or directory, or a component that is none', () => {
    const errors = compileErrors(
      {
        weather:
          envelopePack +
          'envelope: { signers: [ghost], directories: [https://evil.example.com], cover: ["Content-Type"] }\n',
      },
      signersYaml,
    )
    expect(errors).toEqual([
      'policies/weather.yaml:6:23: no signer is named "ghost" in _gateway.yaml',
      'policies/weather.yaml:6:45: "https://evil.example.com" is not under key_directories in _gateway.yaml',
      'policies/weather.yaml:6:80: a component is a lower-case field name or a derived component (@method, @target-uri, @authority, @scheme, @request-target, @path, @query, @query-param;name=…)',
    ])
  })

  it('compiles rate limits with their defaults', () => {
    const pack = compileYaml({
      weather:
        ok +
        'rate_limits:\n  - { id: x, by: meta.team, limit: 10, window: 1m, when: { method: [get, POST], kind: apiKey } }\n',
    }).policy.packs[0]
    expect(pack?.rateLimits).toEqual([
      {
        id: 'x',
        by: 'meta.team',
        limit: 10,
        windowMs: 60_000,
        algorithm: 'sliding_window',
        // Kinds compile to patterns; GET brings HEAD (RFC 9110 §9.3.2).
        when: { kinds: [{ exact: 'apiKey' }], methods: ['GET', 'POST', 'HEAD'], agents: null },
        onError: 'local',
        localLimit: 5,
      },
    ])
  })

  it('compiles on_error: local with its local_fraction, and refuses a fraction without it', () => {
    const rule = (extra: string): string =>
      ok + `rate_limits:\n  - { id: x, by: invoker, limit: 7, window: 1m${extra} }\n`
    expect(compileYaml({ weather: rule(', local_fraction: 0.3') }).policy.packs[0]?.rateLimits[0]).toMatchObject({
      onError: 'local',
      localLimit: 2,
    })
    // Never below one request per window.
    expect(compileYaml({ weather: rule(', local_fraction: 0.01') }).policy.packs[0]?.rateLimits[0]).toMatchObject({
      localLimit: 1,
    })
    expect(compileErrors({ weather: rule(', on_error: deny, local_fraction: 0.5') })[0]).toMatch(
      /local_fraction applies only with on_error: local/,
    )
    expect(compileErrors({ weather: rule(', local_fraction: 1.5') })).toHaveLength(1)
  })

  it('refuses overlapping routes and duplicate pack ids', () => {
    const inner = ok.replace(/weather/g, 'inner').replace('/packs/inner', '/packs/weather/inner')
    expect(compileErrors({ weather: ok, inner })).toEqual([
      'policies/inner.yaml:4:8: the route of pack "inner" overlaps the route of pack "weather"',
    ])
    // Different hosts do not overlap.
    const elsewhere = inner.replace('match: {', 'match: { host: other.example,')
    expect(compileErrors({ weather: ok.replace('match: {', 'match: { host: one.example,'), inner: elsewhere })).toEqual(
      [],
    )
    expect(compileErrors({ weather: ok, 'weather.yml': ok }).join()).toMatch(
      /pack id "weather" must equal the file name "weather.yml"|already defined/,
    )
  })

  it('checks API keys in the gateway file', () => {
    const gateway = (extra: string): string =>
      `issuer: x\napi_keys:\n  a:\n    key_id: AAAAAAAA\n    sha256: "${'0'.repeat(64)}"\n${extra}`
    expect(compileErrors({ weather: ok }, gateway('    packs: [nope]\n'))).toEqual([
      'policies/_gateway.yaml:6:13: no pack is named "nope"',
    ])
    expect(compileErrors({ weather: ok }, gateway('    expires: soon\n'))).toEqual([
      'policies/_gateway.yaml:6:14: expires is not an ISO 8601 date (2027-06-30) or date-time with an offset (2027-06-30T10:00:00Z)',
    ])
    expect(
      compileErrors({ weather: ok }, gateway(`  b:\n    key_id: AAAAAAAA\n    sha256: "${'1'.repeat(64)}"\n`)),
    ).toEqual(['policies/_gateway.yaml:7:13: key_id "AAAAAAAA" is already used by "a"'])
    expect(
      compileErrors({ weather: ok }, 'issuer: x\napi_keys:\n  a: { key_id: short, sha256: nothex }\n'),
    ).toHaveLength(2)
  })

  it('splits globs into their literal segments at build time, never a regular expression', () => {
    const { policy } = compileYaml({ weather: ok + 'allow: [{ email: "*@example.com", kind: authUser }]\n' })
    expect(policy.packs[0]?.allow?.[0]?.conditions).toEqual([
      { field: 'kind', patterns: [{ exact: 'authUser' }] },
      { field: 'email', patterns: [{ glob: ['', '@example.com'] }] },
    ])
  })
})
