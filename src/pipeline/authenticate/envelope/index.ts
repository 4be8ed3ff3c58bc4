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
import { ok } from '../../../outcome.ts'
import { reject, type AuthnResult } from '../result.ts'

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
    for (const pack of policy.packs)
      this.#cover.set(
        pack.id,
        pack.envelope.cover.map((c) => serializeItem(componentItem(c))),
      )
    this.#delegationComponent = serializeItem(componentItem(policy.envelope.delegationHeader))
  }

  async verify(
    request: Request,
    url: URL,
    pack: CompiledPack,
    env: Bindings,
    claimNonce: ClaimNonce,
    note?: NoteDegraded,
  ): Promise<AuthnResult> {
    const invalid = (problem: EnvelopeProblem, signer: string | null = null): AuthnResult =>
      reject({ reason: 'envelope_invalid', problem, signer, accepted: pack.auth })
    const { headers } = request
    const found = this.#choice.choose(headers, pack)
    if (typeof found === 'string') return invalid(found)
    const { input, signature, keyId, signer } = found
    const signerName = 'name' in signer ? signer.name : signer.directory
    const params = input[1]
    const settings = this.#settings

    const claimedAlg = params.get('alg')
    if (claimedAlg !== undefined && 'algorithm' in signer && claimedAlg !== signer.algorithm)
      return invalid('algorithm', signerName)
    const now = Math.floor(Date.now() / 1000)
    const times = checkTimes(params, settings, now)
    if (typeof times === 'string') return invalid(times, signerName)

    const withBody = hasBody(request)
    const bodyPlan = withBody ? signedBodyPlan(headers, pack.signedBody) : null
    if (bodyPlan === 'too_large') return reject({ reason: 'body_too_large', limitBytes: pack.signedBody.limitBytes })
    const identifiers = coveredComponents(input)
    const covered = new Set(identifiers)
    const delegated = headers.get(settings.delegationHeader)
    if (!coversFloor(covered, url, withBody) || !(this.#cover.get(pack.id) ?? []).every((c) => covered.has(c)))
      return invalid('components_missing', signerName)
    if (delegated !== null && !covered.has(this.#delegationComponent)) return invalid('components_missing', signerName)

    let base: string
    try {
      base = signatureBase({ method: request.method, url, headers }, input, identifiers)
    } catch (error) {
      if (error instanceof SignatureBaseError) return invalid('component_invalid', signerName)
      throw error
    }

    let algorithm: SignatureAlgorithm
    let key: CryptoKey
    if ('name' in signer) {
      algorithm = signer.algorithm
      const imported = await this.#keys.get(signer, env)
      if (imported.kind !== 'ok') return reject({ reason: 'envelope_unavailable', problem: imported.problem })
      key = imported.value
    } else {
      if (params.get('tag') !== WEB_BOT_AUTH_TAG) return invalid('malformed', signerName)
      const lookup = await this.#directories.lookup(signer.directory, keyId)
      // A copy past `directory_stale` is unavailable, and still said in the log as the stale input it is.
      const stale =
        lookup.kind === 'unavailable'
          ? this.#directories.staleness(signer.directory)
          : lookup.kind === 'ok'
            ? lookup.value.stale
            : lookup.refusal.stale
      if (stale !== null && note)
        note({
          kind: 'directory_stale',
          source: signer.directory,
          stale_for: ageSeconds(stale.since, Date.now()),
          problem: stale.problem,
        })
      if (lookup.kind === 'unavailable') return reject({ reason: 'envelope_unavailable', problem: lookup.problem })
      if (lookup.kind === 'refused') return invalid('signer_unknown', signerName)
      if (claimedAlg !== undefined && claimedAlg !== lookup.value.algorithm) return invalid('algorithm', signerName)
      algorithm = lookup.value.algorithm
      key = lookup.value.key
    }
    if (!(await verifySignature(algorithm, key, base, signature))) return invalid('signature', signerName)

    let authentication: Authentication
    if (delegated !== null) {
      // The user's id goes into the signer's namespace (issue 12, item 3).
      if (!('name' in signer)) return invalid('delegation_refused', signerName)
      const outcome = delegatedAuthentication(signer, delegated, settings.reservedUserPrefixes)
      if (typeof outcome === 'string') return invalid(outcome, signerName)
      authentication = outcome
    } else {
      authentication = signerAuthentication(signerName, signer.invoker)
    }

    let expectedDigest: ExpectedDigest | null = null
    if (bodyPlan !== null) {
      // Checked by the forward step: before any byte is forwarded, or at the end of a stream.
      const field = headers.get('content-digest')
      const digests = field === null ? null : parseContentDigest(field)
      if (digests === null) return invalid('digest_missing', signerName)
      expectedDigest = { digests, stream: bodyPlan === 'stream' }
      authentication.auth.body = bodyPlan === 'stream' ? 'streamed' : 'verified'
    }

    if (times.nonce !== undefined) {
      const ttlMs = nonceLifetimeSeconds(times, settings, now) * 1000
      if (!(await claimNonce(`${signerName}\n${keyId}\n${times.nonce}`, ttlMs))) return invalid('replayed', signerName)
    }
    return ok({ authentication, expectedDigest })
  }
}
