/**
 * `Accept-Signature` (RFC 9421 §5.1) on a 401 from a pack that takes signed requests: what to
 * cover and which parameters to send, so a signer can fix its request without reading policy.
 *
 * @module
 */
import { parseItem, serializeDictionary, type Item } from 'structured-headers'
import type { CompiledPack, EnvelopeSettings } from '../../../policy/types.ts'
import { serializedComponent } from './index.ts'

export function acceptSignature(pack: CompiledPack, settings: EnvelopeSettings, request: Request, url: URL): string {
  const components = ['@method', '@authority', '@path']
  if (url.search !== '') components.push('@query')
  if (request.body !== null && request.method !== 'GET' && request.method !== 'HEAD') components.push('content-digest')
  const items: Item[] = [...components, ...pack.envelope.cover].map((c) => parseItem(serializedComponent(c)))
  const params = new Map<string, boolean>([['created', true]])
  if (settings.nonceRequired) params.set('nonce', true)
  return serializeDictionary(new Map([['sig1', [items, params]]]))
}
