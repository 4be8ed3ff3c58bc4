/** `explain --invoker`: the auth method defaults to the pack's only one, or the CLI asks for it. */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { generateApiKey, sha256Hex } from '../../src/keys/api-key-format.ts'
import { buildKeyIndex, verifyApiKey } from '../../src/pipeline/authenticate/api-key.ts'
import { explain as explainDecision } from '../../src/policy/explain.ts'
import { compileYaml } from '../support/policy.ts'

const dir = mkdtempSync(join(tmpdir(), 'igw-explain-'))
writeFileSync(
  join(dir, '_gateway.yaml'),
  `issuer: https://gateway.test
issuers:
  idp: { issuer: https://idp.test, jwks_uri: https://idp.test/jwks, audience: agents, algorithms: [ES256] }
session:
  cookies: [sid]
  introspection: { endpoint: https://app.test/api/auth/get-session }
`,
)
writeFileSync(
  join(dir, 'tokens.yaml'),
  'pack: tokens\nupstream: https://b.test\nmatch: { path_prefix: /tokens }\nauth: [bearer, api_key]\nallow: [{ kind: service }]\n',
)
writeFileSync(
  join(dir, 'web.yaml'),
  'pack: web\nupstream: https://b.test\nmatch: { path_prefix: /web }\nauth: [bearer, session]\n',
)
writeFileSync(
  join(dir, 'keys.yaml'),
  'pack: keys\nupstream: https://b.test\nmatch: { path_prefix: /keys }\nauth: [api_key]\n',
)

function explain(url: string, invoker: object, ...extra: string[]): { status: number; stdout: string; stderr: string } {
  const run = spawnSync(
    process.execPath,
    ['src/cli/main.ts', 'explain', '--policies', dir, '--url', url, '--invoker', JSON.stringify(invoker), ...extra],
    { encoding: 'utf8' },
  )
  return { status: run.status ?? -1, stdout: run.stdout, stderr: run.stderr }
}

describe('explain --invoker', () => {
  it("takes the pack's only method besides API keys when the JSON names none", () => {
    const run = explain('https://gw.test/tokens/x', { id: 'svc-1', kind: 'service' })
    expect(run.status, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({
      decision: 'allow',
      pack: 'tokens',
      invoker: { auth: { method: 'bearer' } },
    })
  })

  it('asks for the method where the pack takes several, and uses the one given', () => {
    const asked = explain('https://gw.test/web/x', { id: 'u1', kind: 'authUser' })
    expect(asked.status).toBe(1)
    expect(asked.stderr).toContain('pack web accepts bearer, session: say which in --invoker')
    const given = explain(
      'https://gw.test/web/x',
      { id: 'u1', kind: 'authUser', method: 'session' },
      '--method',
      'POST',
    )
    expect(given.status, given.stderr).toBe(0)
    expect(JSON.parse(given.stdout)).toMatchObject({ decision: 'allow', invoker: { auth: { method: 'session' } } })
  })

  it('points to --api-key on a pack that takes only API keys, and refuses an unknown method', () => {
    const keysOnly = explain('https://gw.test/keys/x', { id: 'u1', kind: 'service' })
    expect(keysOnly.status).toBe(1)
    expect(keysOnly.stderr).toContain('pack keys accepts api_key: explain it with --api-key NAME')
    const unknown = explain('https://gw.test/web/x', { id: 'u1', kind: 'service', method: 'api_key' })
    expect(unknown.status).toBe(1)
    expect(unknown.stderr).toContain('"method" in --invoker is one of bearer, session, envelope')
  })
})

describe('explain and the Worker decide an API key at its expiry alike', () => {
  // test/worker/explain-agrees.test.ts compares explain with the running Worker for every key
  // state; the Worker's clock cannot be set there, so the second a key expires is compared here,
  // with the decider the authenticate step calls and the key itself.
  it('allows up to the second before expires and refuses from that second on, as the Worker does', async () => {
    const { key, keyId } = generateApiKey()
    const expires = '2031-05-01T12:00:00Z'
    const expiresAt = Date.parse(expires) / 1000
    const { policy } = compileYaml(
      { keys: 'pack: keys\nupstream: https://b.test\nmatch: { path_prefix: /keys }\nauth: [api_key]\n' },
      `issuer: https://gateway.test\napi_keys:\n  lapsing:\n    key_id: "${keyId}"\n    sha256: "${await sha256Hex(key)}"\n    expires: ${expires}\n`,
    )
    const pack = policy.packs[0] as (typeof policy.packs)[number]
    const index = buildKeyIndex(policy.apiKeys)
    const seen: Array<[number, string, string]> = []
    for (const now of [expiresAt - 1, expiresAt, expiresAt + 1]) {
      const worker = await verifyApiKey(key, pack, (id) => index.get(id) ?? null, now)
      const told = explainDecision(
        policy,
        { method: 'GET', url: 'https://gw.test/keys/x' },
        { api_key: 'lapsing' },
        now,
      )
      seen.push([now - expiresAt, worker.kind === 'ok' ? 'allowed' : worker.refusal.reason.reason, told.reason])
    }
    expect(seen).toEqual([
      [-1, 'allowed', 'allowed'],
      [0, 'api_key_expired', 'api_key_expired'],
      [1, 'api_key_expired', 'api_key_expired'],
    ])
  })
})
