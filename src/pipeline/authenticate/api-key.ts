/**
 * API key verification (SPEC §3): format and checksum, lookup by embedded key id, constant-time
 * comparison of SHA-256 digests, revocation, expiry, pack scope.
 *
 * @module
 */
import { parseApiKey } from '../../keys/api-key-format.ts'
import { constantTimeEqual, constantTimeEqualText, sha256Bytes } from '../../keys/digest.ts'
import type { Authentication } from '../../invoker.ts'
import type { ApiKeyRecord, CompiledPack } from '../../policy/types.ts'
import { ok } from '../../outcome.ts'
import { reject, type AuthnResult } from './result.ts'

export interface KeyIndexEntry {
  record: ApiKeyRecord
  digest: Uint8Array
  /**
   * The last key presented whose digest matched: a caller presenting it again is compared with
   * it in constant time instead of being hashed again (SHA-256 was a tenth of an API-key
   * request's CPU in workerd). A key that does not match is hashed and compared as before and
   * never replaces it; revocation, expiry and scope are judged on every request either way.
   */
  proven: string | null
}

export function indexEntry(record: ApiKeyRecord): KeyIndexEntry {
  return { record, digest: hexToBytes(record.sha256), proven: null }
}

/** Built once per gateway: hex digests decoded, so a request only hashes and compares. */
export function buildKeyIndex(records: Record<string, ApiKeyRecord>): Map<string, KeyIndexEntry> {
  const index = new Map<string, KeyIndexEntry>()
  for (const record of Object.values(records)) index.set(record.keyId, indexEntry(record))
  return index
}

/** Finds the record of a key id: the policy's keys first, then keys minted at runtime. */
export type KeyLookup = (keyId: string) => KeyIndexEntry | null | Promise<KeyIndexEntry | null>

export async function verifyApiKey(
  key: string,
  pack: CompiledPack,
  lookup: KeyLookup,
  nowSeconds: number,
): Promise<AuthnResult> {
  const accepted = pack.auth
  const parsed = parseApiKey(key)
  if (!parsed) return reject({ reason: 'api_key_malformed', accepted })
  const entry = await lookup(parsed.keyId)
  if (!entry) return reject({ reason: 'api_key_unknown', keyId: parsed.keyId, accepted })
  if (entry.proven === null || !constantTimeEqualText(key, entry.proven)) {
    const presented = await sha256Bytes(key)
    if (!constantTimeEqual(presented, entry.digest)) {
      return reject({ reason: 'api_key_mismatch', key: entry.record.name, accepted })
    }
    entry.proven = key
  }
  return judgeKeyRecord(entry.record, pack, nowSeconds)
}

/**
 * What a key the caller has proven to hold may do: revocation, expiry and pack scope, in that
 * order. The one decider of these rules: `explain` (and so the policy fixtures) runs it too.
 */
export function judgeKeyRecord(record: ApiKeyRecord, pack: CompiledPack, nowSeconds: number): AuthnResult {
  const accepted = pack.auth
  if (record.revoked) return reject({ reason: 'api_key_revoked', key: record.name, accepted })
  if (record.expiresAt !== null && nowSeconds >= record.expiresAt) {
    return reject({ reason: 'api_key_expired', key: record.name, accepted })
  }
  if (record.packs !== null && !record.packs.includes(pack.id)) {
    return reject({ reason: 'api_key_wrong_pack', key: record.name, accepted })
  }
  return ok({
    authentication: authenticationFor(record),
    expiresAt: record.expiresAt === null ? null : record.expiresAt * 1000,
  })
}

/** The invoker an API key stands for. */
function authenticationFor(record: ApiKeyRecord): Authentication {
  return {
    invoker: { ...record.invoker, meta: { ...record.invoker.meta } },
    auth: { method: 'api_key', api_key: record.name },
  }
}

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return out
}
