/**
 * The signature base of RFC 9421 §2.5, built exactly as the RFC says, for a request (or, for the
 * RFC's own response example, a response). Component values come from the message as received;
 * structured fields are parsed and re-serialized with `structured-headers` (RFC 8941/9651).
 * Written by hand because no library runs in a Worker and covers every derived component
 * (http-message-sig lacks `@query-param`; http-message-signatures is Node-only).
 *
 * @module
 */
import {
  arrayBufferToBase64,
  parseDictionary,
  parseItem,
  parseList,
  serializeDictionary,
  serializeInnerList,
  serializeItem,
  serializeList,
  type BareItem,
  type InnerList,
  type Item,
  type Parameters,
} from 'structured-headers'

export interface SignedMessage {
  /** Requests: the method and the target URI as received. */
  method?: string
  url?: URL
  /** Responses: the status code. */
  status?: number
  headers: Headers
}

/** A covered component the message cannot supply, or a component identifier the RFC forbids. */
export class SignatureBaseError extends Error {
  override readonly name = 'SignatureBaseError'
}

/** Fields whose structured type is known (RFC 9421 §2.1.1: the verifier must know it for `sf`). */
const DICTIONARY_FIELDS = new Set([
  'signature',
  'signature-input',
  'content-digest',
  'repr-digest',
  'want-content-digest',
  'want-repr-digest',
  'accept-signature',
  'signature-agent',
  'priority',
  'example-dict',
])
const LIST_FIELDS = new Set(['example-list'])

const encoder = new TextEncoder()

/**
 * A component identifier as policy writes it (`content-type`, `@query-param;name=q`) as the
 * structured item RFC 9421 serializes (`"content-type"`, `"@query-param";name="q"`).
 */
export function componentItem(component: string): Item {
  const [name, ...params] = component.split(';')
  const map: Parameters = new Map()
  for (const param of params) {
    const eq = param.indexOf('=')
    if (eq < 0) map.set(param.trim(), true)
    else
      map.set(
        param.slice(0, eq).trim(),
        param
          .slice(eq + 1)
          .trim()
          .replace(/^"|"$/g, ''),
      )
  }
  return [name as string, map]
}

/**
 * `identifiers`: the covered components already serialized (in order), when the caller has them
 * (the envelope step serializes them once to check coverage).
 */
export function signatureBase(message: SignedMessage, signature: InnerList, identifiers?: readonly string[]): string {
  const [components] = signature
  const lines: string[] = []
  const seen = new Set<string>()
  for (let i = 0; i < components.length; i++) {
    const component = components[i] as Item
    const identifier = identifiers?.[i] ?? serializeItem(component)
    if (seen.has(identifier)) throw new SignatureBaseError(`component ${identifier} is covered twice`)
    seen.add(identifier)
    lines.push(`${identifier}: ${componentValue(message, component)}`)
  }
  lines.push(`"@signature-params": ${serializeInnerList(signature)}`)
  return lines.join('\n')
}

function componentValue(message: SignedMessage, [name, params]: Item): string {
  if (typeof name !== 'string' || name === '' || name !== name.toLowerCase())
    throw new SignatureBaseError('a component name is a lower-case string')
  if (params.has('req') || params.has('tr'))
    throw new SignatureBaseError(`${name}: related-request and trailer components are not supported`)
  return name.startsWith('@') ? derived(message, name, params) : field(message.headers, name, params)
}

function onlyParams(name: string, params: Parameters, allowed: readonly string[]): void {
  for (const key of params.keys())
    if (!allowed.includes(key)) throw new SignatureBaseError(`${name}: unknown parameter ${key}`)
}

function derived(message: SignedMessage, name: string, params: Parameters): string {
  onlyParams(name, params, name === '@query-param' ? ['name'] : [])
  if (name === '@status') {
    if (message.status === undefined) throw new SignatureBaseError('@status is for responses')
    return String(message.status)
  }
  const { url, method } = message
  if (url === undefined || method === undefined) throw new SignatureBaseError(`${name} is for requests`)
  switch (name) {
    case '@method':
      return method
    case '@target-uri':
      return url.href
    case '@authority':
      return url.host.toLowerCase()
    case '@scheme':
      return url.protocol.slice(0, -1).toLowerCase()
    case '@request-target':
      return (url.pathname || '/') + url.search
    case '@path':
      return url.pathname || '/'
    case '@query':
      return url.search === '' ? '?' : url.search
    case '@query-param':
      return queryParam(url, params.get('name'))
    default:
      throw new SignatureBaseError(`unknown derived component ${name}`)
  }
}

/**
 * RFC 9421 §2.2.8: names and values are form-decoded, the value re-encoded. A parameter that
 * occurs more than once is refused, as the RFC asks: which occurrence was signed is unknowable.
 */
function queryParam(url: URL, name: BareItem | undefined): string {
  if (typeof name !== 'string') throw new SignatureBaseError('@query-param needs a name parameter')
  const wanted = new URLSearchParams(`${name}=`).keys().next().value as string
  const values = new URLSearchParams(url.search).getAll(wanted)
  if (values.length !== 1)
    throw new SignatureBaseError(`@query-param ${name}: the parameter occurs ${values.length} times`)
  return encodeURIComponent(values[0] as string)
}

function field(headers: Headers, name: string, params: Parameters): string {
  onlyParams(name, params, ['sf', 'bs', 'key'])
  const value = headers.get(name)
  if (value === null) throw new SignatureBaseError(`field ${name} is covered but absent`)
  const sf = params.get('sf') === true
  const bs = params.get('bs') === true
  const key = params.get('key')
  if ((sf ? 1 : 0) + (bs ? 1 : 0) + (key !== undefined ? 1 : 0) > 1)
    throw new SignatureBaseError(`${name}: sf, bs and key exclude each other`)
  try {
    if (key !== undefined) {
      if (typeof key !== 'string') throw new SignatureBaseError(`${name}: key is a string`)
      const member = parseDictionary(value).get(key)
      if (member === undefined) throw new SignatureBaseError(`${name}: no member ${key}`)
      return Array.isArray(member[0]) ? serializeInnerList(member as InnerList) : serializeItem(member as Item)
    }
    if (sf) {
      if (DICTIONARY_FIELDS.has(name)) return serializeDictionary(parseDictionary(value))
      if (LIST_FIELDS.has(name)) return serializeList(parseList(value))
      return serializeItem(parseItem(value))
    }
  } catch (error) {
    if (error instanceof SignatureBaseError) throw error
    throw new SignatureBaseError(`${name}: not a valid structured field`)
  }
  // Field lines arrive already combined by the runtime (", "), which is what §2.1 asks for;
  // `bs` then wraps that one combined value.
  if (bs) return `:${arrayBufferToBase64(encoder.encode(value))}:`
  return value.trim()
}
