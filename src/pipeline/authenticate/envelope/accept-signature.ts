/**
 * `Accept-Signature` (RFC 9421 §5.1) on a 401 from a pack that takes signed requests: what to
 * cover and which parameters to send, so a signer can fix its request without reading policy.
 *
 * @module
 */
import { serializeDictionary } from 'structured-headers'
import type { CompiledPack, EnvelopeSettings } from '../../../policy/types.ts'
import { hasBody } from '../../../http/request.ts'
import { componentItem } from './signature-base.ts'

export function acceptSignature(pack: CompiledPack, settings: EnvelopeSettings, request: Request, url: URL): string {
  const components = ['@method', '@authority', '@path']
  if (url.search !== '') components.push('@query')
  if (hasBody(request)) components.push('content-digest')
  const items = [...components, ...pack.envelope.cover].map(componentItem)
  const params = new Map<string, boolean>([['created', true]])
  if (settings.nonceRequired) params.set('nonce', true)
  return serializeDictionary(new Map([['sig1', [items, params]]]))
}
