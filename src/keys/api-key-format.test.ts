import { describe, expect, it } from 'vitest'
import { generateApiKey, looksLikeApiKey, parseApiKey, sha256Hex } from './api-key-format.ts'

describe('API key format', () => {
  it('round-trips a minted key and exposes its key id', () => {
    const { key, keyId } = generateApiKey()
    expect(key).toMatch(/^igw_[0-9A-Za-z]{8}_[0-9A-Za-z]{49}$/)
    expect(looksLikeApiKey(key)).toBe(true)
    expect(parseApiKey(key)).toEqual({ keyId })
  })

  it('refuses a key with one character changed (checksum)', () => {
    const { key } = generateApiKey()
    const i = 20
    const changed = key.slice(0, i) + (key[i] === 'a' ? 'b' : 'a') + key.slice(i + 1)
    expect(parseApiKey(changed)).toBeNull()
  })

  it('refuses other shapes', () => {
    for (const bad of ['', 'igw_', 'igw_short', 'xyz_AAAAAAAA_' + 'A'.repeat(49), generateApiKey().key + 'A']) {
      expect(parseApiKey(bad)).toBeNull()
    }
  })

  it('mints distinct keys', () => {
    const keys = new Set(Array.from({ length: 50 }, () => generateApiKey().key))
    expect(keys.size).toBe(50)
  })

  it('hashes as lower-case hex SHA-256', async () => {
    expect(await sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  })
})
