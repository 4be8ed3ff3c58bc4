import { describe, expect, it } from 'vitest'
import { MAX_META_TOTAL_CHARS } from '../../constants.ts'
import type { ClaimMapping } from '../../policy/types.ts'
import { mapClaims } from './claims.ts'

const mapping: ClaimMapping = {
  id: [['sub']],
  idPrefix: '',
  reservedIdPrefixes: ['anon:', 'apikey:', 'chat-host:', 'b:'],
  reservedIds: ['bot', 'svc-1'],
  kind: 'service',
  label: ['name'],
  email: ['email'],
  meta: [
    { field: 'groups', path: ['groups'] },
    { field: 'profile', path: ['profile'] },
  ],
}
const auth = { method: 'bearer' } as const

describe('claim mapping limits (item 2)', () => {
  it('item 2: meta over its total budget is refused, not cut short', () => {
    // Each string under the per-string limit, together over the total (introspection and session
    // answers can be this large; a bearer token cannot, it is capped at 8 KiB before parsing).
    const groups = Array.from({ length: 9 }, () => 'g'.repeat(1000))
    expect(9000).toBeGreaterThan(MAX_META_TOTAL_CHARS)
    expect(mapClaims(mapping, { sub: 'u', groups }, auth)).toBe('claim_too_large')
    expect(mapClaims(mapping, { sub: 'u', groups: groups.slice(0, 8) }, auth)).toMatchObject({
      invoker: { meta: { groups: groups.slice(0, 8) } },
    })
    // Keys count too: an object of many long keys with tiny values.
    const profile = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`${i}`.padEnd(50, 'k'), 1]))
    expect(mapClaims(mapping, { sub: 'u', profile }, auth)).toBe('claim_too_large')
    // So do members: 257 members in one object.
    expect(
      mapClaims(
        mapping,
        { sub: 'u', profile: Object.fromEntries(Array.from({ length: 257 }, (_, i) => [String(i), 0])) },
        auth,
      ),
    ).toBe('claim_too_large')
  })

  it('item 3: an id in a reserved namespace is refused; a prefix that keeps ids apart needs no check', () => {
    expect(mapClaims(mapping, { sub: 'chat-host:alice' }, auth)).toBe('id_reserved')
    expect(mapClaims(mapping, { sub: 'anon:x' }, auth)).toBe('id_reserved')
    expect(mapClaims({ ...mapping, idPrefix: 'corp|', reservedIdPrefixes: [] }, { sub: 'anon:x' }, auth)).toMatchObject(
      { invoker: { id: 'corp|anon:x' } },
    )
    expect(mapClaims(mapping, { sub: 'alice' }, auth)).toMatchObject({ invoker: { id: 'alice' } })
    expect(mapClaims(mapping, {}, auth)).toBe('claims')
  })

  it("item 3: an id in another issuer's namespace, or one policy gives another invoker, is refused", () => {
    expect(mapClaims(mapping, { sub: 'b:alice' }, auth)).toBe('id_reserved')
    expect(mapClaims(mapping, { sub: 'bot' }, auth)).toBe('id_reserved')
    expect(mapClaims(mapping, { sub: 'svc-1' }, auth)).toBe('id_reserved')
    // Compared as a folding backend compares them (red team 4): case, NFKC, spaces, ignorables.
    for (const sub of ['APIKEY:x', ' apikey:x', 'apikey\uFF1Ax', 'B:alice', 'BOT', 'bot\u200B', 'Anon:x'])
      expect(mapClaims(mapping, { sub }, auth), JSON.stringify(sub)).toBe('id_reserved')
    // Exact ids only: a longer one is someone else.
    expect(mapClaims(mapping, { sub: 'bots' }, auth)).toMatchObject({ invoker: { id: 'bots' } })
    expect(mapClaims({ ...mapping, idPrefix: 'x:', reservedIds: [] }, { sub: 'bot' }, auth)).toMatchObject({
      invoker: { id: 'x:bot' },
    })
  })
})
