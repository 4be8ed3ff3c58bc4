/**
 * Red-team pass 8: an agent path holding a reserved or non-ASCII character met its agent only
 * when the request spelled the character raw. Backends route on the decoded path, so every
 * spelling must meet the same agent (and its lists, and its `by: agent` limits).
 */
import { describe, expect, it } from 'vitest'
import { matchRoute } from '../../src/pipeline/route/match.ts'
import { compileYaml } from '../support/policy.ts'

const PACK = (strict: string) => `
pack: fl
upstream: http://127.0.0.1:9000
match: { path_prefix: /fl }
auth: [api_key]
${strict}
agents:
  CrmQuery: { path: "/v1/agents/crm:query", allow: [{ meta.groups: sales-team }] }
  Signed: { path: "/v1/@me/**", allow: [{ meta.groups: sales-team }] }
  Cafe: { path: /café/**, allow: [{ meta.groups: sales-team }] }
  Spaced: { path: "/my agent/**", allow: [{ meta.groups: sales-team }] }
`

const agentOf = (strict: string, path: string): string | null => {
  const { policy } = compileYaml({ fl: PACK(strict) })
  const routed = matchRoute(policy.packs, new URL(`http://gw.test${path}`))
  if (!routed.ok) throw new Error(`not routed: ${path}`)
  return routed.match.agent?.name ?? null
}

describe('agents are matched on the decoded path, as backends route', () => {
  it.each([
    ['/fl/v1/agents/crm:query', 'CrmQuery'],
    ['/fl/v1/agents/crm%3Aquery', 'CrmQuery'],
    ['/fl/v1/agents/crm%3aquery', 'CrmQuery'],
    ['/fl/v1/agents/CRM%3AQUERY', 'CrmQuery'],
    ['/fl/v1/%40me/x', 'Signed'],
    ['/fl/v1/@me/x', 'Signed'],
    ['/fl/café/menu', 'Cafe'],
    ['/fl/caf%C3%A9/menu', 'Cafe'],
    ['/fl/CAF%C3%89/menu', 'Cafe'],
    ['/fl/my%20agent/run', 'Spaced'],
    // Pass 9: NFD, and a compatibility form, of the same text (a backend may normalize either).
    ['/fl/cafe%CC%81/menu', 'Cafe'],
    ['/fl/CAFE%CC%81/menu', 'Cafe'],
  ])('%s meets %s', (path, agent) => {
    expect(agentOf('strict_paths: false', path)).toBe(agent)
    expect(agentOf('strict_paths: true', path)).toBe(agent)
  })

  it('pass 9: a compatibility form (full-width colon) meets the agent; a strict pack refuses it outright', () => {
    expect(agentOf('strict_paths: false', '/fl/v1/agents/crm%EF%BC%9Aquery')).toBe('CrmQuery')
    expect(() => agentOf('', '/fl/v1/agents/crm%EF%BC%9Aquery')).toThrow('not routed')
  })

  it('a segment that is not UTF-8 meets no pattern written in text, and no error (strict packs refuse it)', () => {
    expect(agentOf('strict_paths: false', '/fl/caf%C3/menu')).toBeNull()
    expect(agentOf('strict_paths: false', '/fl/v1/agents/crm%3Aquery%FF')).toBeNull()
    expect(() => agentOf('', '/fl/caf%C3/menu')).toThrow('not routed')
  })
})
