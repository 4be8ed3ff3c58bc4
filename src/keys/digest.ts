/**
 * SHA-256 and constant-time comparison, shared by API key checks, the admin token check and
 * rate-limit counter names. WebCrypto only, so the Worker and the Node CLI run the same code.
 *
 * @module
 */

const encoder = new TextEncoder()

export async function sha256Bytes(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)))
}

/** Lower-case hex SHA-256. */
export async function sha256Hex(text: string): Promise<string> {
  let hex = ''
  for (const byte of await sha256Bytes(text)) hex += byte.toString(16).padStart(2, '0')
  return hex
}

/**
 * Compares two digests in time independent of where they differ. Written by hand because
 * `crypto.subtle.timingSafeEqual` exists in workerd but not in Node, and the CLI shares this code.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number)
  return diff === 0
}

/**
 * Compares two strings in time independent of their contents (their lengths aside: an API key's
 * length is fixed by its format). UTF-16 code units, so no encoding is allocated.
 */
export function constantTimeEqualText(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}
