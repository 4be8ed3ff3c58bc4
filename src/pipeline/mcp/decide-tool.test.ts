import { describe, expect, it } from 'vitest'
import type { Authentication } from '../../invoker.ts'
import type { CompiledToolPolicy } from '../../policy/types.ts'
import { policyOf } from '../../../test/support/policy.ts'
import { decideTool, toolAllowance } from './decide-tool.ts'

const GATEWAY = `
issuer: https://gateway.test
issuers:
  idp: { issuer: https://idp.test, jwks_uri: https://idp.test/jwks, algorithms: [ES256] }
`

function tools(section: string): CompiledToolPolicy {
  const policy = policyOf(
    {
      mcp: `
pack: mcp
upstream: http://127.0.0.1:9
match: { path_prefix: /mcp }
protocol: mcp
auth: [bearer]
mcp:
  tools:
${section.replace(/^/gm, '    ')}
`,
    },
    GATEWAY,
  )
  return policy.packs[0]?.mcp?.tools as CompiledToolPolicy
}

const user = (id: string, meta: Authentication['invoker']['meta'] = {}): Authentication => ({
  invoker: { id, kind: 'authUser', meta },
  auth: { method: 'bearer', issuer: 'idp' },
})

describe('decideTool', () => {
  const policy = tools(`default: deny
names:
  "get_*": {}
  delete_record: { allow: [{ meta.role: admin }] }
  "*_record": { deny: [{ id: mallory }] }
  "admin_*": { allow: [{ meta.role: admin }], deny: [{ id: eve }] }`)

  it("lets a named tool through with no lists of its own (the pack's lists decided)", () => {
    expect(decideTool(policy, user('bob'), 'get_weather')).toEqual({ allowed: true, rule: null })
  })

  it('refuses a tool no entry names when the default is deny', () => {
    expect(decideTool(policy, user('bob'), 'drop_tables')).toEqual({ allowed: false, list: 'tool_default', rule: null })
  })

  it('applies every entry whose glob matches, deny winning, and names the rule', () => {
    expect(decideTool(policy, user('alice', { role: 'admin' }), 'delete_record')).toEqual({
      allowed: true,
      rule: 'mcp.tools.names.delete_record.allow[0]',
    })
    expect(decideTool(policy, user('bob'), 'delete_record')).toEqual({ allowed: false, list: 'tool_allow', rule: null })
    expect(decideTool(policy, user('mallory', { role: 'admin' }), 'delete_record')).toEqual({
      allowed: false,
      list: 'tool_deny',
      rule: 'mcp.tools.names.*_record.deny[0]',
    })
    expect(decideTool(policy, user('eve', { role: 'admin' }), 'admin_reset')).toMatchObject({
      allowed: false,
      list: 'tool_deny',
    })
  })

  it('matches names with their case, and a glob anchored at both ends', () => {
    expect(decideTool(policy, user('bob'), 'Get_weather')).toMatchObject({ allowed: false, list: 'tool_default' })
    expect(decideTool(policy, user('bob'), 'xget_weather')).toMatchObject({ allowed: false, list: 'tool_default' })
  })

  it('lets every tool no entry refuses through when the default is allow', () => {
    const open = tools(`default: allow
names:
  delete_record: { allow: [{ id: alice }] }`)
    expect(decideTool(open, user('bob'), 'anything')).toEqual({ allowed: true, rule: null })
    expect(decideTool(open, user('bob'), 'delete_record')).toMatchObject({ allowed: false, list: 'tool_allow' })
  })

  it('decides each name of a list once', () => {
    const allowed = toolAllowance(policy, user('bob'))
    expect(['get_a', 'delete_record', 'get_a', 'x'].map(allowed)).toEqual([true, false, true, false])
  })
})
