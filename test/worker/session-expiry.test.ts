/**
 * Red team pass 9, F5: a session whose end the gateway knows (Better Auth's `session.expiresAt`
 * in the get-session answer) stops admitting plain requests then, however long `cache_ttl` is:
 * the remembered answer lasts no longer than the session, and an answer that says the session
 * has ended admits nobody. The session endpoint is the real HTTP server of
 * test/support/flaky.ts, which answers as scripted and counts what it was asked.
 */
import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { gateway } from './harness.ts'
import { sleep } from './stream-helpers.ts'

const FLAKY = env.TEST_FLAKY_ORIGIN

const flaky = {
  script: (path: string, json: unknown) =>
    fetch(`${FLAKY}/__script?path=${encodeURIComponent(path)}`, { method: 'PUT', body: JSON.stringify(json) }),
  hits: async (path: string) =>
    ((await (await fetch(`${FLAKY}/__seen?path=${encodeURIComponent(path)}`)).json()) as { hits: number }).hits,
}

async function sessionGateway(expiresAt: number) {
  const path = `/session-${crypto.randomUUID()}`
  await flaky.script(path, {
    user: { id: `user-${path.slice(9, 17)}`, email: 'sam@example.com', name: 'Sam' },
    session: { id: 'sess-1', expiresAt: new Date(expiresAt).toISOString() },
  })
  const pack = `s${crypto.randomUUID().slice(0, 8)}`
  const gw = gateway(
    { [pack]: `pack: ${pack}\nupstream: $BACKEND\nmatch: { path_prefix: /${pack} }\nauth: [session]\n` },
    `issuer: https://gateway.test\napi_keys: {}\nsession:\n  cookies: [sid]\n  introspection: { endpoint: ${FLAKY}${path}, cache_ttl: 30s }\n`,
  )
  const get = async () => (await gw.fetch(`/${pack}/x`, { headers: { cookie: 'sid=abc' } })).status
  return { path, get }
}

describe('a session past the end its endpoint named', () => {
  it('admits until then from the cache, and refuses a plain request after it, within cache_ttl', async () => {
    const { path, get } = await sessionGateway(Date.now() + 3_000)
    expect(await get()).toBe(200)
    expect(await get()).toBe(200)
    expect(await flaky.hits(path)).toBe(1) // the second answer came from the cache
    await sleep(4_000)
    // The endpoint (scripted, as an app that keeps a stale answer would) still names the past end.
    expect(await get()).toBe(401)
    expect(await flaky.hits(path)).toBe(2) // the remembered answer ended with the session
  }, 15_000)

  it('an answer whose session has already ended admits nobody', async () => {
    const { get } = await sessionGateway(Date.now() - 1_000)
    expect(await get()).toBe(401)
  })

  it('a session ending after cache_ttl: its answer is remembered for cache_ttl (control)', async () => {
    const { path, get } = await sessionGateway(Date.now() + 3_600_000)
    expect(await get()).toBe(200)
    expect(await get()).toBe(200)
    expect(await flaky.hits(path)).toBe(1)
  })
})
