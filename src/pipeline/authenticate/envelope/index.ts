/**
 * Signed requests (RFC 9421 HTTP Message Signatures), the strongest method: a signer proves
 * control of its key on every request, over the components the pack requires, once (the nonce
 * is remembered), and only for a short time. A signer the policy allows to delegate may act for
 * a user by covering the delegation header.
 *
 * Order matters: everything that costs nothing is checked before the signature, the signature
 * before the nonce is spent, so a forger can neither make the gateway fetch nor burn nonces.
 *
 * @module
 */
import { base64ToArrayBuffer, parseDictionary, parseItem, serializeItem, type InnerList, type Item } from 'structured-headers'
import { ageSeconds, type NoteDegraded } from '../../../degraded.ts'
import { namedSecret, type Bindings } from '../../../env.ts'
import type { EnvelopeProblem } from '../../../errors/reasons.ts'
import type { Authentication } from '../../../invoker.ts'
import type { CompiledPack, CompiledPolicy, CompiledSigner, EnvelopeSettings, SignatureAlgorithm, SignerInvoker } from '../../../policy/types.ts'
import { importHmacKey, importPublicKey, verifySignature } from './algorithms.ts'
import { parseContentDigest, signedBodyPlan, type ExpectedDigest } from './content-digest.ts'
import { delegatedAuthentication, signerAuthentication } from './delegation.ts'
import { KeyDirectories } from './directory.ts'
import { KeyImports } from './signer-keys.ts'
import { hasBody } from '../../../http/request.ts'
import { componentItem, SignatureBaseError, signatureBase } from './signature-base.ts'
import type { AuthnResult } from '../result.ts'

/** Longest nonce remembered; far above the 64 bytes Web Bot Auth uses. */
const MAX_NONCE_LENGTH = 256
const WEB_BOT_AUTH_TAG = 'web-bot-auth'


/** Remembers a nonce for `ttlMs`; false when it was already there (a replay). */
export type ClaimNonce = (key: string, ttlMs: number) => Promise<boolean>

interface Candidate {
  input: InnerList
  signature: Uint8Array
  keyId: string
  /** A signer from policy, or the directory the request names (resolved after the cheap checks). */
  signer: CompiledSigner | { directory: string; invoker: SignerInvoker }
}

/** The floor every signature must cover (SPEC §3), as serialized component identifiers. */
const METHOD = '"@method"'
const AUTHORITY = '"@authority"'
const PATH = '"@path"'
const QUERY = '"@query"'
const TARGET_URI = '"@target-uri"'
const CONTENT_DIGEST = '"content-digest"'
const SIGNATURE_AGENT = 'signature-agent'

export class EnvelopeVerifier {
  readonly #settings: EnvelopeSettings
  readonly #signersByKeyId = new Map<string, CompiledSigner>()
  readonly #directories: KeyDirectories
  readonly #directoryInvokers: Map<string, SignerInvoker>
  readonly #keys = new KeyImports()
  /** Per pack: the extra components, serialized once. */
  readonly #cover = new Map<string, string[]>()
  readonly #delegationComponent: string

  constructor(policy: CompiledPolicy) {
    this.#settings = policy.envelope
    for (const signer of Object.values(policy.signers)) this.#signersByKeyId.set(signer.keyId, signer)
    this.#directories = new KeyDirectories(policy.envelope)
    this.#directoryInvokers = new Map(policy.keyDirectories.map((d) => [d.origin, d.invoker]))
    for (const pack of policy.packs) this.#cover.set(pack.id, pack.envelope.cover.map((c) => serializeItem(componentItem(c))))
    this.#delegationComponent = serializeItem(componentItem(policy.envelope.delegationHeader))
  }

  async verify(request: Request, url: URL, pack: CompiledPack, env: Bindings, claimNonce: ClaimNonce, note?: NoteDegraded): Promise<AuthnResult> {
    const reject = (problem: EnvelopeProblem, signer: string | null = null): AuthnResult => ({
      kind: 'reject',
      reason: { reason: 'envelope_invalid', problem, signer, accepted: pack.auth },
    })
    const { headers } = request
    const found = this.#candidates(headers, pack)
    if (typeof found === 'string') return reject(found)
    const { input, signature, keyId, signer } = found
    const signerName = 'name' in signer ? signer.name : signer.directory
    const params = input[1]
    const settings = this.#settings

    const claimedAlg = params.get('alg')
    if (claimedAlg !== undefined && 'algorithm' in signer && claimedAlg !== signer.algorithm) return reject('algorithm', signerName)
    const created = params.get('created')
    const expires = params.get('expires')
    const nonce = params.get('nonce')
    const now = Math.floor(Date.now() / 1000)
    const skew = settings.clockSkewSeconds
    if (typeof created !== 'number' || !Number.isInteger(created)) return reject('created_missing', signerName)
    if (created > now + skew) return reject('created_future', signerName)
    if (now - created > settings.maxAgeSeconds + skew) return reject('too_old', signerName)
    if (expires !== undefined && (typeof expires !== 'number' || !Number.isInteger(expires) || expires < created)) return reject('malformed', signerName)
    // RFC 9421 §2.3: `expires` is the signer's own word on when the signature ends; no leeway
    // stretches it (clock_skew widens only how far `created` may lie ahead).
    if (typeof expires === 'number' && now > expires) return reject('expired', signerName)
    if (nonce !== undefined && (typeof nonce !== 'string' || nonce === '' || nonce.length > MAX_NONCE_LENGTH)) return reject('malformed', signerName)
    if (settings.nonceRequired && nonce === undefined) return reject('nonce_missing', signerName)

    const withBody = hasBody(request)
    const bodyPlan = withBody ? signedBodyPlan(headers, pack.signedBody) : null
    if (bodyPlan === 'too_large') return { kind: 'reject', reason: { reason: 'body_too_large', limitBytes: pack.signedBody.limitBytes } }
    const covered = new Set(input[0].map((item) => serializeItem(item)))
    const delegated = headers.get(settings.delegationHeader)
    if (!coversFloor(covered, url, withBody) || !(this.#cover.get(pack.id) ?? []).every((c) => covered.has(c))) return reject('components_missing', signerName)
    if (delegated !== null && !covered.has(this.#delegationComponent)) return reject('components_missing', signerName)

    let base: string
    try {
      base = signatureBase({ method: request.method, url, headers }, input)
    } catch (error) {
      if (error instanceof SignatureBaseError) return reject('component_invalid', signerName)
      throw error
    }

    let algorithm: SignatureAlgorithm
    let key: CryptoKey
    if ('name' in signer) {
      algorithm = signer.algorithm
      const imported = await this.#signerKey(signer, env)
      if (!imported.ok) return { kind: 'reject', reason: { reason: 'envelope_unavailable', problem: imported.problem } }
      key = imported.key
    } else {
      if (params.get('tag') !== WEB_BOT_AUTH_TAG) return reject('malformed', signerName)
      const lookup = await this.#directories.lookup(signer.directory, keyId)
      if ('stale' in lookup && lookup.stale !== null && note) {
        note({ kind: 'directory_stale', source: signer.directory, stale_for: ageSeconds(lookup.stale.since, Date.now()), problem: lookup.stale.problem })
      }
      if (!lookup.ok) {
        if ('unavailable' in lookup) return { kind: 'reject', reason: { reason: 'envelope_unavailable', problem: lookup.unavailable } }
        return reject('signer_unknown', signerName)
      }
      if (claimedAlg !== undefined && claimedAlg !== lookup.algorithm) return reject('algorithm', signerName)
      algorithm = lookup.algorithm
      key = lookup.key
    }
    if (!(await verifySignature(algorithm, key, base, signature))) return reject('signature', signerName)

    let authentication: Authentication
    if (delegated !== null) {
      // The user's id goes into the signer's namespace (issue 12, item 3).
      if (!('name' in signer)) return reject('delegation_refused', signerName)
      const outcome = delegatedAuthentication(signer, delegated, settings.reservedUserPrefixes)
      if (typeof outcome === 'string') return reject(outcome, signerName)
      authentication = outcome
    } else {
      authentication = signerAuthentication(signerName, signer.invoker)
    }

    let expectedDigest: ExpectedDigest | null = null
    if (bodyPlan !== null) {
      // Checked by the forward step: before any byte is forwarded, or at the end of a stream.
      const field = headers.get('content-digest')
      const digest = field === null ? null : parseContentDigest(field)
      if (digest === null) return reject('digest_missing', signerName)
      expectedDigest = { ...digest, stream: bodyPlan === 'stream' }
      authentication.auth.body = bodyPlan === 'stream' ? 'streamed' : 'verified'
    }

    if (typeof nonce === 'string') {
      const lifetime = (typeof expires === 'number' ? Math.min(expires, created + settings.maxAgeSeconds) : created + settings.maxAgeSeconds) + skew - now
      if (!(await claimNonce(`${signerName}\n${keyId}\n${nonce}`, Math.max(1, lifetime) * 1000))) return reject('replayed', signerName)
    }
    return { kind: 'ok', authentication, expectedDigest }
  }

  /**
   * The one signature to verify. Signatures by keys the pack does not know are ignored (another
   * hop may have signed too); of those it knows, there must be exactly one, as two could name
   * two callers.
   */
  #candidates(headers: Headers, pack: CompiledPack): Candidate | EnvelopeProblem {
    const inputField = headers.get('signature-input')
    const signatureField = headers.get('signature')
    if (inputField === null || signatureField === null) return 'malformed'
    let inputs
    let signatures
    try {
      inputs = parseDictionary(inputField)
      signatures = parseDictionary(signatureField)
    } catch {
      return 'malformed'
    }
    const known: Candidate[] = []
    for (const [label, member] of inputs) {
      if (!Array.isArray(member[0])) return 'malformed'
      const input = member as InnerList
      const value = signatures.get(label)?.[0]
      if (!(value instanceof ArrayBuffer)) return 'malformed'
      const keyId = input[1].get('keyid')
      if (typeof keyId !== 'string') continue
      const signer = this.#signersByKeyId.get(keyId)
      if (signer !== undefined) {
        if (pack.envelope.signers.includes(signer.name)) known.push({ input, signature: new Uint8Array(value), keyId, signer })
        continue
      }
      const directory = this.#directoryOf(headers, input, pack)
      if (directory === 'agent_not_origin') return directory
      if (directory !== null) known.push({ input, signature: new Uint8Array(value), keyId, signer: directory })
    }
    if (known.length === 0) return 'signer_unknown'
    if (known.length > 1) return 'ambiguous'
    return known[0] as Candidate
  }

  /** The trusted directory a signature names through a covered `Signature-Agent`, if any. */
  #directoryOf(headers: Headers, input: InnerList, pack: CompiledPack): { directory: string; invoker: SignerInvoker } | 'agent_not_origin' | null {
    const value = headers.get(SIGNATURE_AGENT)
    const component = input[0].find(([name]) => name === SIGNATURE_AGENT)
    if (value === null || component === undefined) return null
    const url = signatureAgentUrl(value, component)
    if (url === null) return null
    let origin: string
    try {
      origin = new URL(url).origin
    } catch {
      return null
    }
    const invoker = this.#directoryInvokers.get(origin)
    if (invoker === undefined || !pack.envelope.directories.includes(origin)) return null
    // Web Bot Auth names a directory by its origin: a path (dot segments included), a query,
    // userinfo or another spelling of a trusted origin is refused, never reduced to it.
    if (url !== origin && url !== origin + '/') return 'agent_not_origin'
    return { directory: origin, invoker }
  }

  /**
   * The signer's key. One that does not import is the operator's problem, not the caller's: the
   * answer is 503 with the reason in the log, and the import is tried again on the next request
   * (the build imports every policy key the same way, so this is a secret or a runtime surprise).
   */
  async #signerKey(signer: CompiledSigner, env: Bindings): Promise<{ ok: true; key: CryptoKey } | { ok: false; problem: string }> {
    try {
      if (signer.secretName !== null) {
        const secret = namedSecret(env, signer.secretName)
        const bytes = secret === null ? null : base64Bytes(secret)
        if (secret === null || bytes === null) return { ok: false, problem: `Worker secret ${signer.secretName} is not set or not base64` }
        return { ok: true, key: await this.#keys.get(signer.name, secret, () => importHmacKey(bytes)) }
      }
      const algorithm = signer.algorithm as Exclude<SignatureAlgorithm, 'hmac-sha256'>
      return { ok: true, key: await this.#keys.get(signer.name, '', () => importPublicKey(algorithm, signer.jwk as never)) }
    } catch (error) {
      return { ok: false, problem: `the key of signer ${signer.name} does not import (${error instanceof Error ? error.name : 'error'})` }
    }
  }
}

function coversFloor(covered: Set<string>, url: URL, hasBody: boolean): boolean {
  // @target-uri carries scheme, authority, path and query at once.
  const target = covered.has(TARGET_URI)
  if (!covered.has(METHOD)) return false
  if (!target && !(covered.has(AUTHORITY) && covered.has(PATH))) return false
  if (url.search !== '' && !target && !covered.has(QUERY)) return false
  if (hasBody && !covered.has(CONTENT_DIGEST)) return false
  return true
}

/**
 * `Signature-Agent` names the directory: an sf-string in the first drafts, a dictionary member
 * (picked by the component's `key`, or the only member) in the current one.
 */
function signatureAgentUrl(value: string, component: Item): string | null {
  const key = component[1].get('key')
  try {
    if (typeof key === 'string') {
      const member = parseDictionary(value).get(key)?.[0]
      return typeof member === 'string' ? member : null
    }
    const item = parseItem(value)[0]
    if (typeof item === 'string') return item
  } catch {
    try {
      const members = [...parseDictionary(value).values()]
      const only = members.length === 1 ? members[0]?.[0] : undefined
      return typeof only === 'string' ? only : null
    } catch {
      return null
    }
  }
  return null
}

function base64Bytes(text: string): Uint8Array | null {
  try {
    const bytes = new Uint8Array(base64ToArrayBuffer(text.trim()))
    return bytes.length > 0 ? bytes : null
  } catch {
    return null
  }
}
