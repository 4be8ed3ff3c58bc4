/**
 * The checks of a signed request that cost nothing: its parameters against the clock and policy
 * (RFC 9421 §2.3), and the components it covers against the floor every signature must cover
 * (SPEC §3) and what the pack adds. Pure: no I/O, and `now` comes in.
 *
 * @module
 */
import { serializeItem, type InnerList } from 'structured-headers'
import type { EnvelopeProblem } from '../../../errors/reasons.ts'
import type { EnvelopeSettings } from '../../../policy/types.ts'

/** Longest nonce remembered; far above the 64 bytes Web Bot Auth uses. */
const MAX_NONCE_LENGTH = 256

/** The floor every signature must cover (SPEC §3), as serialized component identifiers. */
const METHOD = '"@method"'
const AUTHORITY = '"@authority"'
const PATH = '"@path"'
const QUERY = '"@query"'
const TARGET_URI = '"@target-uri"'
const CONTENT_DIGEST = '"content-digest"'

/** A signature's time parameters and nonce, once they passed. */
export interface SignatureTimes {
  created: number
  expires: number | undefined
  nonce: string | undefined
}

export function checkTimes(
  params: InnerList[1],
  settings: EnvelopeSettings,
  now: number,
): SignatureTimes | EnvelopeProblem {
  const created = params.get('created')
  const expires = params.get('expires')
  const nonce = params.get('nonce')
  const skew = settings.clockSkewSeconds
  if (typeof created !== 'number' || !Number.isInteger(created)) return 'created_missing'
  if (created > now + skew) return 'created_future'
  if (now - created > settings.maxAgeSeconds + skew) return 'too_old'
  if (expires !== undefined && (typeof expires !== 'number' || !Number.isInteger(expires) || expires < created))
    return 'malformed'
  // RFC 9421 §2.3: `expires` is the signer's own word on when the signature ends; no leeway
  // stretches it (clock_skew widens only how far `created` may lie ahead).
  if (typeof expires === 'number' && now > expires) return 'expired'
  if (nonce !== undefined && (typeof nonce !== 'string' || nonce === '' || nonce.length > MAX_NONCE_LENGTH))
    return 'malformed'
  if (settings.nonceRequired && nonce === undefined) return 'nonce_missing'
  return { created, expires: expires as number | undefined, nonce: nonce as string | undefined }
}

/** How long a nonce is remembered: as long as its signature could still be accepted. */
export function nonceLifetimeSeconds(times: SignatureTimes, settings: EnvelopeSettings, now: number): number {
  const { created, expires } = times
  const lifetime =
    (typeof expires === 'number'
      ? Math.min(expires, created + settings.maxAgeSeconds)
      : created + settings.maxAgeSeconds) +
    settings.clockSkewSeconds -
    now
  return Math.max(1, lifetime)
}

/** The components a signature covers, serialized as RFC 9421 writes them, in the signature's order. */
export function coveredComponents(input: InnerList): string[] {
  return input[0].map((item) => serializeItem(item))
}

export function coversFloor(covered: Set<string>, url: URL, hasBody: boolean): boolean {
  // @target-uri carries scheme, authority, path and query at once.
  const target = covered.has(TARGET_URI)
  if (!covered.has(METHOD)) return false
  if (!target && !(covered.has(AUTHORITY) && covered.has(PATH))) return false
  if (url.search !== '' && !target && !covered.has(QUERY)) return false
  if (hasBody && !covered.has(CONTENT_DIGEST)) return false
  return true
}
