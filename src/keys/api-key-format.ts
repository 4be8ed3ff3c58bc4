/**
 * The API key format: `igw_<key id>_<secret><checksum>`.
 *
 * - `igw_` makes keys recognisable (secret scanners, the Bearer slot: a token with this prefix
 *   is an API key, not a JWT);
 * - the key id (8 base62 chars) lets the gateway find the record without a scan, and is what
 *   policy, logs and the CLI name;
 * - the secret is 43 base62 chars (≈256 bits) from the platform CSPRNG;
 * - the checksum is CRC-32 of everything before it, 6 base62 chars (as GitHub's token format),
 *   so a typo is refused before any lookup.
 *
 * Written by hand: no maintained library implements this format, and it is a few lines.
 *
 * @module
 */
import { BASE62_CLASS, KEY_ID, KEY_ID_LENGTH } from '../policy/patterns.ts'

export const API_KEY_PREFIX = 'igw_'
const SECRET_LENGTH = 43
const CHECKSUM_LENGTH = 6
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const encoder = new TextEncoder()
const API_KEY_SHAPE = new RegExp(
  `^${API_KEY_PREFIX}(${BASE62_CLASS}{${KEY_ID_LENGTH}})_(${BASE62_CLASS}{${SECRET_LENGTH}})(${BASE62_CLASS}{${CHECKSUM_LENGTH}})$`,
)

export interface ParsedApiKey {
  keyId: string
}

/** Whether a token is meant as an API key (by its prefix), whatever its validity. */
export function looksLikeApiKey(token: string): boolean {
  return token.startsWith(API_KEY_PREFIX)
}

/** Parses and checksums a key; `null` when it is malformed or the checksum fails. */
export function parseApiKey(key: string): ParsedApiKey | null {
  const parts = API_KEY_SHAPE.exec(key)
  if (!parts) return null
  const body = key.slice(0, key.length - CHECKSUM_LENGTH)
  if (checksum(body) !== parts[3]) return null
  return { keyId: parts[1] as string }
}

/** Mints a new key; the caller shows it once and stores only its SHA-256. */
export function generateApiKey(keyId: string = randomBase62(KEY_ID_LENGTH)): { key: string; keyId: string } {
  if (!KEY_ID.test(keyId)) throw new Error('key id must be 8 base62 characters')
  const body = `${API_KEY_PREFIX}${keyId}_${randomBase62(SECRET_LENGTH)}`
  return { key: body + checksum(body), keyId }
}

function randomBase62(length: number): string {
  let out = ''
  // Rejection sampling keeps every character uniform (256 is not a multiple of 62).
  while (out.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length * 2))) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62]
    }
  }
  return out
}

function checksum(text: string): string {
  let value = crc32(encoder.encode(text))
  let out = ''
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62] + out
    value = Math.floor(value / 62)
  }
  return out
}

const CRC_TABLE = /* @__PURE__ */ (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff
  for (const byte of bytes) crc = (CRC_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

/** Lower-case hex SHA-256 of a key is the only form in which keys are ever stored. */
export { sha256Hex } from './digest.ts'
