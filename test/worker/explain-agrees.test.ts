/**
 * `explain` (and so the policy fixtures) and the running Worker decide API keys alike: for every
 * key state (valid, scoped, revoked, expired, expiring later, and keys that break several rules
 * at once, where the order of the checks decides the reason), on packs that take API keys, one
 * that does not and one in report mode, the Worker's answer and log line say what explain says.
 * Both run the one decider (`judgeKeyRecord` in authenticate/api-key.ts); a copy of its rules in
 * explain that drifted (another order, another expiry bound) would fail here.
 */
import { env } from 'cloudflare:test'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { explain } from '../../src/policy/explain.ts'
import type { CompiledPolicy } from '../../src/policy/types.ts'
import { compileYaml } from '../support/policy.ts'
import { gateway, mintKey, type Gateway, type MintedKey } from './harness.ts'

const PACKS = {
  alpha: `
pack: alpha
upstream: $BACKEND
match: { path_prefix: /packs/alpha }
auth: [api_key]
deny: [{ kind: robot }]
`,
  beta: `
pack: beta
upstream: $BACKEND
match: { path_prefix: /packs/beta }
auth: [api_key]
`,
  tokens: `
pack: tokens
upstream: $BACKEND
match: { path_prefix: /packs/tokens }
auth: [bearer]
bearer: { issuers: [idp] }
`,
  watch: `
pack: watch
upstream: $BACKEND
match: { path_prefix: /packs/watch }
auth: [api_key]
mode: report
deny: [{ kind: robot }]
`,
}

/** Each key as `_gateway.yaml` states it; the name is the policy's. */
const KEYS: Record<string, string> = {
  good: '',
  scoped: 'packs: [alpha]',
  revoked: 'revoked: true',
  expired: 'expires: 2020-01-01T00:00:00Z',
  later: 'expires: 2099-01-01T00:00:00Z\npacks: [alpha, watch]',
  robot: 'invoker: { kind: robot }',
  // Several rules broken at once: the first check in order names the reason.
  tangled: 'revoked: true\nexpires: 2020-01-01T00:00:00Z\npacks: [beta]',
  lapsed: 'expires: 2020-01-01T00:00:00Z\npacks: [beta]',
}

const PATHS = ['/packs/alpha/run', '/packs/beta/run', '/packs/tokens/run', '/packs/watch/run']

let gw: Gateway
let policy: CompiledPolicy
const minted: Record<string, MintedKey> = {}

beforeAll(async () => {
  for (const [name, extra] of Object.entries(KEYS)) minted[name] = await mintKey(name, extra)
  const gatewayYaml = `issuer: https://gateway.test
issuers:
  idp: { issuer: https://idp.test, jwks_uri: https://idp.test/jwks, audience: agents, algorithms: [ES256] }
api_keys:
${Object.values(minted)
  .map((k) => k.yaml)
  .join('')}`
  gw = gateway(PACKS, gatewayYaml)
  const withBackend = Object.fromEntries(
    Object.entries(PACKS).map(([id, text]) => [id, text.replaceAll('$BACKEND', env.TEST_BACKEND_ORIGIN)]),
  )
  policy = compileYaml(withBackend, gatewayYaml).policy
})

afterEach(() => {
  vi.restoreAllMocks()
})

/** The Worker's answer to a key on a path: its status and its request log line. */
async function worker(key: string, path: string): Promise<{ status: number; line: Record<string, unknown> }> {
  const lines: string[] = []
  vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
  const response = await gw.fetch(path, { headers: { 'x-api-key': key } })
  await response.body?.cancel()
  vi.restoreAllMocks()
  const line = lines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => 'decision' in l && l['path'] === path)
  if (line === undefined) throw new Error(`no log line for ${path}: ${lines.join('\n')}`)
  return { status: response.status, line }
}

describe('explain and the Worker agree on API keys', () => {
  const cases = Object.keys(KEYS).flatMap((name) => PATHS.map((path) => [name, path] as const))

  it.each(cases)('key %s on %s', async (name, path) => {
    const key = minted[name] as MintedKey
    const seen = await worker(key.key, path)
    const told = explain(
      policy,
      { method: 'GET', url: `https://gw.test${path}` },
      { api_key: name },
      Math.floor(Date.now() / 1000),
    )
    expect({
      status: seen.status,
      reason: seen.line['reason'],
      rule: seen.line['rule'],
      invoker: seen.line['invoker_id'],
    }).toEqual({
      status: told.status,
      reason: told.reason,
      rule: told.rule,
      invoker: told.invoker?.invoker.id ?? null,
    })
    // A decision explain calls "report" is one the Worker forwards and logs as would_deny.
    const decision = { allow: 'allow', report: 'would_deny', deny: 'deny', unauthenticated: 'deny' }[
      told.decision as 'allow'
    ]
    expect(seen.line['decision']).toBe(decision)
  })

  it('the cases cover every reason an API key the policy knows can be refused for, and both outcomes', () => {
    const reasons = new Set(
      cases.map(
        ([name, path]) =>
          explain(
            policy,
            { method: 'GET', url: `https://gw.test${path}` },
            { api_key: name },
            Math.floor(Date.now() / 1000),
          ).reason,
      ),
    )
    expect([...reasons].sort()).toEqual([
      'allowed',
      'api_key_expired',
      'api_key_revoked',
      'api_key_wrong_pack',
      'denied',
      'method_not_accepted',
    ])
  })
})
