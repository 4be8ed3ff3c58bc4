/** The compiler's part for MCP packs (src/policy/compiler/mcp.ts), and `explain` with a tool. */
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { explain } from '../../src/policy/explain.ts'
import { compileErrors, compileYaml } from '../support/policy.ts'

const GATEWAY = `
issuer: https://gateway.example.com
api_keys:
  alice: { key_id: "Ab12Cd34", sha256: "${'a'.repeat(64)}" }
  bob: { key_id: "Ef56Gh78", sha256: "${'b'.repeat(64)}" }
issuers:
  idp:
    issuer: https://idp.example.com
    jwks_uri: https://idp.example.com/jwks
    audience: https://agents.example.com
    algorithms: [ES256]
  mcp-only:
    issuer: https://login.example.com
    jwks_uri: https://login.example.com/jwks
    algorithms: [ES256]
`

const pack = (extra = ''): string => `
pack: tools
upstream: http://127.0.0.1:9000
match: { path_prefix: /packs/tools/mcp }
protocol: mcp
auth: [bearer, api_key]
bearer: { issuers: [idp, mcp-only], scopes: { all_of: [tools:read], any_of: [tools:write, admin] } }
${extra}`

describe('MCP packs', () => {
  it("derive the resource from the gateway's public URL and the path, and publish the pack's issuers and scopes", () => {
    const { policy } = compileYaml({ tools: pack() }, GATEWAY)
    expect(policy.packs[0]?.mcp).toEqual({
      resource: 'https://gateway.example.com/packs/tools/mcp',
      metadataUrl: 'https://gateway.example.com/.well-known/oauth-protected-resource/packs/tools/mcp',
      metadataPath: '/.well-known/oauth-protected-resource/packs/tools/mcp',
      authorizationServers: ['https://idp.example.com', 'https://login.example.com'],
      scopes: ['tools:read', 'tools:write', 'admin'],
      challengeScope: 'tools:read tools:write admin',
      maxBodyBytes: 1024 * 1024,
      tools: null,
    })
  })

  it('bind the resource to its pack: issuers learn it as an audience that opens this pack alone', () => {
    const { policy } = compileYaml({ tools: pack() }, GATEWAY)
    expect(policy.issuers['idp']).toMatchObject({
      audiences: ['https://agents.example.com', 'https://gateway.example.com/packs/tools/mcp'],
      mcpResources: ['https://gateway.example.com/packs/tools/mcp'],
    })
    // An issuer that only MCP packs use needs no audience of its own.
    expect(policy.issuers['mcp-only']).toMatchObject({
      audiences: ['https://gateway.example.com/packs/tools/mcp'],
      mcpResources: ['https://gateway.example.com/packs/tools/mcp'],
    })
    const named = compileYaml(
      { tools: pack() },
      GATEWAY.replace(
        'audience: https://agents.example.com',
        'audience: [https://agents.example.com, https://gateway.example.com/packs/tools/mcp]',
      ),
    ).policy
    expect(named.issuers['idp']?.mcpResources).toEqual([])
  })

  it("take a resource as written, in canonical form, on the pack's host", () => {
    const explicit = compileYaml({ tools: pack('mcp: { resource: "HTTPS://MCP.Example.com/Tools/" }') }, GATEWAY).policy
      .packs[0]?.mcp
    expect(explicit).toMatchObject({
      resource: 'https://mcp.example.com/Tools',
      metadataUrl: 'https://mcp.example.com/.well-known/oauth-protected-resource/Tools',
    })
    const hosted = compileYaml(
      {
        tools: pack().replace(
          'match: { path_prefix: /packs/tools/mcp }',
          'match: { host: tools.example.com, path_prefix: / }',
        ),
      },
      GATEWAY,
    ).policy.packs[0]?.mcp
    expect(hosted).toMatchObject({
      resource: 'https://tools.example.com',
      metadataPath: '/.well-known/oauth-protected-resource',
    })
  })

  it("compile tool entries with the rules' own patterns", () => {
    const tools = compileYaml(
      {
        tools: pack(
          'mcp:\n  authorization_servers: [idp]\n  scopes: [tools:read, tools:write, admin, extra]\n  max_body_bytes: 4096\n  tools:\n    default: deny\n    names:\n      "get_*": {}\n      delete_record: { allow: [{ api_key: alice }], deny: [{ id: eve }] }\n',
        ),
      },
      GATEWAY,
    ).policy.packs[0]?.mcp
    expect(tools).toMatchObject({
      authorizationServers: ['https://idp.example.com'],
      scopes: ['tools:read', 'tools:write', 'admin', 'extra'],
      maxBodyBytes: 4096,
    })
    expect(tools?.tools).toEqual({
      default: 'deny',
      entries: [
        { name: 'get_*', pattern: { glob: ['get_', ''] }, allow: null, deny: [] },
        {
          name: 'delete_record',
          pattern: { exact: 'delete_record' },
          allow: [
            {
              ref: 'mcp.tools.names.delete_record.allow[0]',
              conditions: [{ field: 'api_key', patterns: [{ exact: 'alice' }] }],
            },
          ],
          deny: [
            {
              ref: 'mcp.tools.names.delete_record.deny[0]',
              conditions: [{ field: 'id', patterns: [{ exact: 'eve' }] }],
            },
          ],
        },
      ],
    })
  })

  it('compile rate limits narrowed to and keyed by a tool', () => {
    const { policy } = compileYaml(
      { tools: pack('rate_limits:\n  - { id: t, by: tool, limit: 5, window: 1m, when: { tool: "delete_*" } }\n') },
      GATEWAY,
    )
    expect(policy.packs[0]?.rateLimits[0]).toMatchObject({ by: 'tool', when: { tools: [{ glob: ['delete_', ''] }] } })
  })

  it.each([
    [
      'mcp settings on a plain pack',
      pack().replace('protocol: mcp\n', '') + 'mcp: { max_body_bytes: 10 }\n',
      'policies/tools.yaml:7:1: mcp settings on a pack that is not an MCP server',
    ],
    [
      'an MCP pack without bearer',
      pack()
        .replace('auth: [bearer, api_key]', 'auth: [api_key]')
        .replace(/bearer: .*\n/, ''),
      'policies/tools.yaml:6:7: an MCP pack takes bearer tokens',
    ],
    [
      'a resource with a query',
      pack('mcp: { resource: "https://gateway.example.com/mcp?x=1" }'),
      'policies/tools.yaml:8:18: the resource is an http(s) URL without query, fragment',
    ],
    [
      'a resource with a fragment',
      pack('mcp: { resource: "https://gateway.example.com/mcp#x" }'),
      'the resource is an http(s) URL without query, fragment',
    ],
    [
      'a resource that is no URL',
      pack('mcp: { resource: mcp.example.com }'),
      'policies/tools.yaml:8:18: the resource is an absolute http(s) URL',
    ],
    [
      'an authorization server the pack does not take tokens from',
      pack().replace('issuers: [idp, mcp-only]', 'issuers: [idp]') + 'mcp: { authorization_servers: [mcp-only] }\n',
      'policies/tools.yaml:8:32: "mcp-only" is not an issuer whose tokens this pack accepts',
    ],
    [
      'published scopes without the required ones',
      pack('mcp: { scopes: [tools:read] }'),
      'policies/tools.yaml:8:16: scopes lacks what bearer.scopes requires: tools:write, admin',
    ],
    [
      'a tool name with a space',
      pack('mcp:\n  tools:\n    default: allow\n    names: { "get weather": {} }\n'),
      'policies/tools.yaml:11:14: tool name "get weather"',
    ],
    [
      'tools without a default',
      pack('mcp:\n  tools: { names: {} }\n'),
      'policies/tools.yaml:9:10: mcp.tools.default: expected one of "allow", "deny"',
    ],
  ])('refuse %s with file:line:col', (_, text, message) => {
    const errors = compileErrors({ tools: text }, GATEWAY)
    expect(
      errors.some((e) => e.includes(message)),
      errors.join('\n'),
    ).toBe(true)
  })

  it.each([
    [
      'a rate limit by tool on a plain pack',
      'rate_limits:\n  - { id: t, by: tool, limit: 1, window: 1m }\n',
      'policies/plain.yaml:6:18: tools are known on MCP packs only',
    ],
    [
      'a rate limit when a tool on a plain pack',
      'rate_limits:\n  - { id: t, by: invoker, limit: 1, window: 1m, when: { tool: x } }\n',
      'policies/plain.yaml:6:55: tools are known on MCP packs only',
    ],
  ])('refuse %s', (_, extra, message) => {
    const errors = compileErrors(
      {
        plain: `pack: plain\nupstream: http://127.0.0.1:9000\nmatch: { path_prefix: /plain }\nauth: [api_key]\n${extra}`,
      },
      GATEWAY,
    )
    expect(
      errors.some((e) => e.startsWith(message)),
      errors.join('\n'),
    ).toBe(true)
  })

  it('refuse two MCP packs with one resource, a default resource without a URL, and an issuer with no audience at all', () => {
    const second =
      pack().replace('pack: tools', 'pack: more').replace('/packs/tools/mcp', '/packs/more') +
      'mcp: { resource: https://gateway.example.com/packs/tools/mcp }\n'
    expect(compileErrors({ tools: pack(), more: second }, GATEWAY).join('\n')).toContain('has the resource of pack')
    expect(
      compileErrors({ tools: pack() }, GATEWAY.replace('issuer: https://gateway.example.com', 'issuer: gateway')).join(
        '\n',
      ),
    ).toContain("policies/tools.yaml:5:11: the default resource of an MCP pack is the gateway's issuer")
    const plain = `pack: plain\nupstream: http://127.0.0.1:9000\nmatch: { path_prefix: /plain }\nauth: [api_key]\n`
    expect(compileErrors({ plain }, GATEWAY)).toEqual([
      'policies/_gateway.yaml:13:5: an issuer needs an audience (or an MCP pack that accepts its tokens)',
    ])
  })
})

describe('explain with a tool', () => {
  const tools = pack(
    'mcp:\n  tools:\n    default: deny\n    names:\n      echo: {}\n      delete_record: { allow: [{ api_key: alice }] }\n',
  )
  const { policy } = compileYaml({ tools }, GATEWAY)
  const url = 'https://gateway.example.com/packs/tools/mcp'

  it("decides a tools/call with the tool's lists, naming the rule", () => {
    expect(explain(policy, { method: 'POST', url, tool: 'delete_record' }, { api_key: 'alice' }, 0)).toMatchObject({
      decision: 'allow',
      rule: 'mcp.tools.names.delete_record.allow[0]',
    })
    expect(explain(policy, { method: 'POST', url, tool: 'delete_record' }, { api_key: 'bob' }, 0)).toMatchObject({
      decision: 'deny',
      reason: 'tool_denied',
      status: 200,
    })
    expect(explain(policy, { method: 'POST', url, tool: 'drop' }, { api_key: 'alice' }, 0)).toMatchObject({
      decision: 'deny',
      reason: 'tool_denied',
    })
    expect(explain(policy, { method: 'POST', url, tool: 'echo' }, { api_key: 'bob' }, 0)).toMatchObject({
      decision: 'allow',
    })
    expect(explain(policy, { method: 'POST', url }, { api_key: 'bob' }, 0)).toMatchObject({ decision: 'allow' })
  })

  it('reports a refused tool in report mode', () => {
    const report = compileYaml({ tools: tools + 'mode: report\n' }, GATEWAY).policy
    expect(explain(report, { method: 'POST', url, tool: 'delete_record' }, { api_key: 'bob' }, 0)).toMatchObject({
      decision: 'report',
      reason: 'tool_denied',
    })
  })

  it('is what the CLI prints for explain --tool', () => {
    const run = spawnSync(
      process.execPath,
      [
        'src/cli/main.ts',
        'explain',
        '--method',
        'POST',
        '--url',
        'http://127.0.0.1:8787/packs/tools/mcp',
        '--tool',
        'delete_notes',
        '--api-key',
        'demo-bob',
      ],
      { encoding: 'utf8' },
    )
    expect(run.status).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ decision: 'deny', pack: 'tools', reason: 'tool_denied' })
  })
})
