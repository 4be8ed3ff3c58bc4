import { describe, expect, it } from 'vitest'
import { KeyImports } from './signer-keys.ts'

describe('signer key imports', () => {
  it('item 10: a failed import is never cached; a successful one is', async () => {
    const keys = new KeyImports()
    const key = (await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])) as CryptoKey
    let calls = 0
    const failing = async (): Promise<CryptoKey> => {
      calls++
      throw new DOMException('bad key', 'DataError')
    }
    await expect(keys.get('signer', 'v1', failing)).rejects.toThrow('bad key')
    await expect(keys.get('signer', 'v1', failing)).rejects.toThrow('bad key')
    expect(calls).toBe(2)
    const working = async (): Promise<CryptoKey> => {
      calls++
      return key
    }
    expect(await keys.get('signer', 'v1', working)).toBe(key)
    expect(await keys.get('signer', 'v1', failing)).toBe(key)
    expect(calls).toBe(3)
    // A new version (an HMAC secret that changed) imports anew.
    await expect(keys.get('signer', 'v2', failing)).rejects.toThrow('bad key')
  })
})
