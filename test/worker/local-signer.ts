/**
 * An RFC 9421 signer written here with WebCrypto (Ed25519) and structured-headers, for tests that
 * must sign what no library would send: generated header values, hostile user names, arbitrary
 * parameters. Component values are taken from the message the way the gateway will see it
 * (`Headers` combines and trims field values; `URL` parses the target).
 */
import {
  parseDictionary,
  serializeDictionary,
  serializeInnerList,
  serializeItem,
  type InnerList,
  type Item,
  type Parameters,
} from 'structured-headers'

export interface LocalSigner {
  keyid: string
  /** The public key, for a `signers:` entry. */
  jwk: JsonWebKey
  /** The headers to add (`signature-input`, `signature`) for a request to `url`. */
  sign(
    request: { method?: string; url: string; headers?: Record<string, string> },
    options?: SignOptions,
  ): Promise<Record<string, string>>
}

export interface SignOptions {
  /** Covered components (`name` or `name;key="member"`); `@method @authority @path` (+ `@query`) by default. */
  components?: string[]
  /** Signature parameters beyond created, keyid and nonce, or replacing them (`null` leaves one out). */
  params?: Record<string, string | number | null>
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
      const components = (
        options.components ?? ['@method', '@authority', '@path', ...(url.search ? ['@query'] : [])]
      ).map(componentItem)
      const all = { created: Math.floor(Date.now() / 1000), keyid, nonce: crypto.randomUUID(), ...options.params }
      const params = new Map(
        Object.entries(all).filter((entry): entry is [string, string | number] => entry[1] !== null),
      )
      const inner: InnerList = [components, params]
      const derived: Record<string, string> = {
        '@method': request.method ?? 'GET',
        '@authority': url.host,
        '@scheme': url.protocol.slice(0, -1),
        '@path': url.pathname,
        '@query': url.search || '?',
        '@request-target': url.pathname + url.search,
        '@target-uri': url.href,
      }
      const lines = components.map((item) => `${serializeItem(item)}: ${componentValue(item, derived, headers)}`)
      lines.push(`"@signature-params": ${serializeInnerList(inner)}`)
      const signature = new Uint8Array(
        await crypto.subtle.sign('Ed25519', pair.privateKey, new TextEncoder().encode(lines.join('\n'))),
      )
      return {
        'signature-input': serializeDictionary(new Map([['sig1', inner]])),
        signature: serializeDictionary(new Map([['sig1', [signature.buffer as ArrayBuffer, new Map()]]])),
      }
    },
  }
}

/** `name;key="member"` as the structured item RFC 9421 serializes. */
function componentItem(component: string): Item {
  const [name, ...rest] = component.split(';')
  const params: Parameters = new Map()
  for (const param of rest) {
    const [key, value] = param.split('=') as [string, string | undefined]
    params.set(key, value === undefined ? true : value.replace(/^"|"$/g, ''))
  }
  return [name as string, params]
}

/** A component's value (RFC 9421 §2.1, §2.2); a `key` member is re-serialized. Throws when the message lacks it. */
function componentValue([name, params]: Item, derived: Record<string, string>, headers: Headers): string {
  const derivedValue = derived[name as string]
  if (derivedValue !== undefined) return derivedValue
  const value = headers.get(name as string)
  if (value === null) throw new Error(`the message has no ${String(name)}`)
  const key = params.get('key')
  if (typeof key !== 'string') return value.trim()
  const member = parseDictionary(value).get(key)
  if (member === undefined) throw new Error(`${String(name)} has no member ${key}`)
  return Array.isArray(member[0]) ? serializeInnerList(member as InnerList) : serializeItem(member as Item)
}
