import { describe, expect, it } from 'vitest'
import { policyOf } from '../../../test/support/policy.ts'
import type { Authentication } from '../../invoker.ts'
import type { CompiledPack } from '../../policy/types.ts'
import { decide } from './decide.ts'

const policy = policyOf({
  weather: `
pack: weather
upstream: http://127.0.0.1:1
match: { path_prefix: /packs/weather }
auth: [api_key]
allow:
  - { kind: authUser, email: "*@example.com" }
  - { id: svc-1 }
  - { meta.groups: sales-team }
  - { meta.org.tier: gold }
deny:
  - { id: user_banned }
  - { kind: authUser, method: DELETE }
agents:
  InternalCRMQuery:
    path: /agents/InternalCRMQuery/**
    allow: [{ meta.groups: sales-team }]
  Open:
    path: /agents/Open/**
    deny: [{ label: "intern *" }]
`,
})
const pack = policy.packs[0] as CompiledPack
const crm = pack.agents[0] ?? null
const open = pack.agents[1] ?? null

const who = (invoker: Partial<Authentication['invoker']>): Authentication => ({
  invoker: { id: 'u1', kind: 'authUser', meta: {}, ...invoker },
  auth: { method: 'bearer' },
})

describe('decide', () => {
  it('admits what the allow list matches, with the rule that did', () => {
    expect(decide(pack, null, who({ meta: { email: 'a@example.com' } }), 'GET')).toEqual({
      allowed: true,
      rule: 'allow[0]',
    })
    expect(decide(pack, null, who({ meta: { email: 'A@EXAMPLE.COM' } }), 'GET').allowed).toBe(true)
    expect(decide(pack, null, who({ id: 'svc-1', kind: 'service' }), 'GET')).toEqual({
      allowed: true,
      rule: 'allow[1]',
    })
    expect(decide(pack, null, who({ meta: { org: { tier: 'gold' } } }), 'GET').allowed).toBe(true)
  })

  it('refuses what the allow list does not match (globs are anchored)', () => {
    expect(decide(pack, null, who({ meta: { email: 'a@example.com.evil.io' } }), 'GET')).toEqual({
      allowed: false,
      list: 'pack_allow',
      rule: null,
    })
    expect(decide(pack, null, who({ kind: 'service', meta: { email: 'a@example.com' } }), 'GET').allowed).toBe(false)
  })

  it('lets deny win over allow', () => {
    expect(decide(pack, null, who({ id: 'user_banned', meta: { email: 'x@example.com' } }), 'GET')).toEqual({
      allowed: false,
      list: 'pack_deny',
      rule: 'deny[0]',
    })
    expect(decide(pack, null, who({ meta: { email: 'x@example.com' } }), 'delete')).toMatchObject({
      allowed: false,
      rule: 'deny[1]',
    })
  })

  it("narrows with an agent's allow list, never widens", () => {
    const sales = who({ meta: { email: 'a@example.com', groups: ['sales-team'] } })
    const support = who({ meta: { email: 'b@example.com', groups: ['support'] } })
    expect(decide(pack, crm, sales, 'POST')).toEqual({ allowed: true, rule: 'agents.InternalCRMQuery.allow[0]' })
    expect(decide(pack, crm, support, 'POST')).toEqual({ allowed: false, list: 'agent_allow', rule: null })
    // Matching the agent's list does not excuse failing the pack's deny list.
    expect(decide(pack, crm, who({ id: 'user_banned', meta: { groups: ['sales-team'] } }), 'POST')).toMatchObject({
      list: 'pack_deny',
    })
  })

  it("applies an agent's deny list", () => {
    expect(decide(pack, open, who({ label: 'intern Bob', meta: { email: 'bob@example.com' } }), 'GET')).toEqual({
      allowed: false,
      list: 'agent_deny',
      rule: 'agents.Open.deny[0]',
    })
  })
})
