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
import { serializeItem } from 'structured-headers'
import { ageSeconds, type NoteDegraded } from '../../../degraded.ts'
import type { Bindings } from '../../../env.ts'
import type { EnvelopeProblem } from '../../../errors/reasons.ts'
import type { Authentication } from '../../../invoker.ts'
import type { CompiledPack, CompiledPolicy, EnvelopeSettings, SignatureAlgorithm } from '../../../policy/types.ts'
import { verifySignature } from './algorithms.ts'
import { SignatureChoice } from './candidates.ts'
import { parseContentDigest, signedBodyPlan, type ExpectedDigest } from './content-digest.ts'
import { delegatedAuthentication, signerAuthentication } from './delegation.ts'
import { KeyDirectories } from './directory.ts'
import { checkTimes, coveredComponents, coversFloor, nonceLifetimeSeconds } from './parameters.ts'
import { SignerKeys } from './signer-keys.ts'
import { hasBody } from '../../../http/request.ts'
import { componentItem, SignatureBaseError, signatureBase } from './signature-base.ts'
import type { AuthnResult } from '../result.ts'

const WEB_BOT_AUTH_TAG = 'web-bot-auth'

/** Remembers a nonce for `ttlMs`; false when it was already there (a replay). */
export type ClaimNonce = (key: string, ttlMs: number) => Promise<boolean>

export class EnvelopeVerifier {
  readonly #settings: EnvelopeSettings
  readonly #choice: SignatureChoice
  readonly #directories: KeyDirectories
  readonly #keys = new SignerKeys()
  /** Per pack: the extra components, serialized once. */
  readonly #cover = new Map<string, string[]>()
  readonly #delegationComponent: string

  constructor(policy: CompiledPolicy) {
    this.#settings = policy.envelope
    this.#choice = new SignatureChoice(policy)
    this.#directories = new KeyDirectories(policy.envelope)
    for (const pack of policy.packs) this.#cover.set(pack.id, pack.envelope.cover.map((c) => serializeItem(componentItem(c))))
    this.#delegationComponent = serializeItem(componentItem(policy.envelope.delegationHeader))
  }

  async verify(request: Request, url: URL, pack: CompiledPack, env: Bindings, claimNonce: ClaimNonce, note?: NoteDegraded): Promise<AuthnResult> {
    const reject = (problem: EnvelopeProblem, signer: string | null = null): AuthnResult => ({
      kind: 'reject',
      reason: { reason: 'envelope_invalid', problem, signer, accepted: pack.auth },
    })
    const { headers } = request
    const found = this.#choice.choose(headers, pack)
    if (typeof found === 'string') return reject(found)
    const { input, signature, keyId, signer } = found
    const signerName = 'name' in signer ? signer.name : signer.directory
    const params = input[1]
    const settings = this.#settings

    const claimedAlg = params.get('alg')
    if (claimedAlg !== undefined && 'algorithm' in signer && claimedAlg !== signer.algorithm) return reject('algorithm', signerName)
    const now = Math.floor(Date.now() / 1000)
    const times = checkTimes(params, settings, now)
    if (typeof times === 'string') return reject(times, signerName)

    const withBody = hasBody(request)
    const bodyPlan = withBody ? signedBodyPlan(headers, pack.signedBody) : null
    if (bodyPlan === 'too_large') return { kind: 'reject', reason: { reason: 'body_too_large', limitBytes: pack.signedBody.limitBytes } }
    const covered = coveredComponents(input)
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
      const imported = await this.#keys.get(signer, env)
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

    if (times.nonce !== undefined) {
      const ttlMs = nonceLifetimeSeconds(times, settings, now) * 1000
      if (!(await claimNonce(`${signerName}\n${keyId}\n${times.nonce}`, ttlMs))) return reject('replayed', signerName)
    }
    return { kind: 'ok', authentication, expectedDigest }
  }
}
