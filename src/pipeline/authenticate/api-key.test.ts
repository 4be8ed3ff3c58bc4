import { describe, expect, it } from 'vitest'
import { policyOf } from '../../../test/support/policy.ts'
import { generateApiKey } from '../../keys/api-key-format.ts'
import { constantTimeEqualText, sha256Hex } from '../../keys/digest.ts'
import type { ApiKeyRecord, CompiledPack } from '../../policy/types.ts'
import { indexEntry, verifyApiKey, type KeyIndexEntry } from './api-key.ts'
import type { AuthnResult } from './result.ts'

const pack = policyOf({
  crm: `
pack: crm
upstream: http://127.0.0.1:1
match: { path_prefix: /packs/crm }
auth: [api_key]
`,
}).packs[0] as CompiledPack

const NOW = 1_800_000_000

async function keyEntry(overrides: Partial<ApiKeyRecord> = {}): Promise<{ key: string; entry: KeyIndexEntry }> {
  const { key, keyId } = generateApiKey()
  const record: ApiKeyRecord = {
    name: 'alice',
    keyId,
    sha256: await sha256Hex(key),
    packs: null,
    expiresAt: null,
    revoked: false,
    invoker: { id: 'apikey:alice', kind: 'apiKey', meta: {} },
    ...overrides,
  }
  return { key, entry: indexEntry(record) }
}

/** The same key id with another secret: a well-formed key (checksum and all) the caller does not hold. */
function forgedFor(entry: KeyIndexEntry): string {
  return generateApiKey(entry.record.keyId).key
}

const verify = (key: string, entry: KeyIndexEntry): Promise<AuthnResult> =>
  verifyApiKey(key, pack, (keyId) => (keyId === entry.record.keyId ? entry : null), NOW)

const reasonOf = (result: AuthnResult): string | null =>
  result.kind === 'refused' ? result.refusal.reason.reason : null

describe('verifyApiKey: the key a caller proved is remembered, and only that key', () => {
  it('admits the key again once proven, and still refuses another secret under its key id', async () => {
    const { key, entry } = await keyEntry()
    expect((await verify(key, entry)).kind).toBe('ok')
    expect(entry.proven).toBe(key)
    expect((await verify(key, entry)).kind).toBe('ok')
    const forged = forgedFor(entry)
    expect(reasonOf(await verify(forged, entry))).toBe('api_key_mismatch')
    // The same length as the proven key, one character apart at its end.
    const lastChanged = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A')
    expect(reasonOf(await verify(lastChanged, entry))).toMatch(/^api_key_(malformed|mismatch)$/)
  })

  it('never remembers a key that did not match', async () => {
    const { key, entry } = await keyEntry()
    const forged = forgedFor(entry)
    expect(reasonOf(await verify(forged, entry))).toBe('api_key_mismatch')
    expect(entry.proven).toBeNull()
    expect(reasonOf(await verify(forged, entry))).toBe('api_key_mismatch')
    expect((await verify(key, entry)).kind).toBe('ok')
    expect(reasonOf(await verify(forged, entry))).toBe('api_key_mismatch')
    expect(entry.proven).toBe(key)
  })

  it('judges revocation, expiry and scope on every request, remembered or not', async () => {
    const { key, entry } = await keyEntry()
    expect((await verify(key, entry)).kind).toBe('ok')
    entry.record = { ...entry.record, revoked: true }
    expect(reasonOf(await verify(key, entry))).toBe('api_key_revoked')
    entry.record = { ...entry.record, revoked: false, expiresAt: NOW }
    expect(reasonOf(await verify(key, entry))).toBe('api_key_expired')
    entry.record = { ...entry.record, expiresAt: null, packs: ['other'] }
    expect(reasonOf(await verify(key, entry))).toBe('api_key_wrong_pack')
  })
})

describe('constantTimeEqualText', () => {
  it('is true only for the same text', () => {
    expect(constantTimeEqualText('igw_abc', 'igw_abc')).toBe(true)
    expect(constantTimeEqualText('', '')).toBe(true)
    expect(constantTimeEqualText('igw_abc', 'igw_abd')).toBe(false)
    expect(constantTimeEqualText('xgw_abc', 'igw_abc')).toBe(false)
    expect(constantTimeEqualText('igw_abc', 'igw_ab')).toBe(false)
    expect(constantTimeEqualText('igw_ab', 'igw_abc')).toBe(false)
  })
})
