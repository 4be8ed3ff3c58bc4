/**
 * An RFC 9421 signer written here with WebCrypto (Ed25519) and structured-headers, for tests that
 * must sign what no library would send: generated header values, hostile user names, arbitrary
 * parameters. Component values are taken from the message the way the gateway will see it
 * (`Headers` combines and trims field values; `URL` parses the target).
 */
import { serializeDictionary, serializeInnerList, type InnerList } from 'structured-headers'

export interface LocalSigner {
  keyid: string
  /** The public key, for a `signers:` entry. */
  jwk: JsonWebKey
  /** The headers to add (`signature-input`, `signature`) for a request to `url`. */
  sign(request: { method?: string; url: string; headers?: Record<string, string> }, options?: SignOptions): Promise<Record<string, string>>
}

export interface SignOptions {
  /** Covered components; `@method @authority @path` (+ `@query`) by default. */
  components?: string[]
  /** Signature parameters beyond created, keyid and nonce (or replacing them). */
  params?: Record<string, string | number>
}

export async function localSigner(keyid: string): Promise<LocalSigner> {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair
  const exported = (await crypto.subtle.exportKey('jwk', pair.publicKey)) as JsonWebKey
  const jwk = { kty: exported.kty, crv: exported.crv, x: exported.x } as JsonWebKey
  return {
    keyid,
    jwk,
    async sign(request, options = {}) {
      const url = new URL(request.url)
      const headers = new Headers(request.headers)
      const components = options.components ?? ['@method', '@authority', '@path', ...(url.search ? ['@query'] : [])]
      const params = new Map<string, string | number>(Object.entries({ created: Math.floor(Date.now() / 1000), keyid, nonce: crypto.randomUUID(), ...options.params }))
      const inner: InnerList = [components.map((c) => [c, new Map()]), params]
      const derived: Record<string, string> = {
        '@method': request.method ?? 'GET',
        '@authority': url.host,
        '@path': url.pathname,
        '@query': url.search || '?',
        '@target-uri': url.href,
      }
      const lines = components.map((c) => `"${c}": ${derived[c] ?? headers.get(c)?.trim() ?? ''}`)
      lines.push(`"@signature-params": ${serializeInnerList(inner)}`)
      const signature = new Uint8Array(await crypto.subtle.sign('Ed25519', pair.privateKey, new TextEncoder().encode(lines.join('\n'))))
      return {
        'signature-input': serializeDictionary(new Map([['sig1', inner]])),
        signature: serializeDictionary(new Map([['sig1', [signature.buffer as ArrayBuffer, new Map()]]])),
      }
    },
  }
}
