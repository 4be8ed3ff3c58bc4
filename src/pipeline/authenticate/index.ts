/**
 * Step 2: who is calling. Credentials are found once; exactly one is verified by its method;
 * a presented credential that fails is a 401 and never falls back to another method or to
 * anonymous (SPEC §3). No credential → anonymous where the pack allows it, else 401.
 *
 * @module
 */
import type { NoteDegraded } from '../../degraded.ts'
import type { Bindings } from '../../env.ts'
import type { Challenge, ChallengeContext } from '../../errors/challenges.ts'
import { GatewayError } from '../../errors/reasons.ts'
import type { Authentication } from '../../invoker.ts'
import { loadSigningKeys } from '../../keys/signing-keys.ts'
import type { CompiledPack, CompiledPolicy } from '../../policy/types.ts'
import {
  type Authenticated,
  type Consumed,
  NOTHING_CONSUMED,
  type Recheck,
  type RequestState,
  type Routed,
} from '../../state.ts'
import { callStore, storeFor } from '../../store/index.ts'
import { mintedKeyLookups } from '../../store/minted-keys.ts'
import { hasBody } from '../../http/request.ts'
import { anonymousInvoker } from './anonymous.ts'
import { buildKeyIndex, indexEntry, verifyApiKey, type KeyIndexEntry } from './api-key.ts'
import { BearerVerifier } from './bearer/index.ts'
import { bodyCheck } from './body-check.ts'
import { EnvelopeVerifier, type ClaimNonce } from './envelope/index.ts'
import { acceptSignature } from './envelope/accept-signature.ts'
import { findCredentials, type Credential } from './credentials.ts'
import { expiredReason, judgeFailure, judgeRecheck } from './recheck.ts'
import { unavailable } from '../../outcome.ts'
import { reject, type AuthnResult } from './result.ts'
import { originTrusted } from './session/csrf.ts'
import { SessionVerifier } from './session/index.ts'

/** A verified signature's fields; Content-Digest stays (the backend may check the body too). */
const ENVELOPE_CONSUMED: Consumed = { headers: ['signature', 'signature-input', 'signature-agent'] }

function consumedBy(credential: Credential): Consumed {
  switch (credential.method) {
    case 'session':
      // The session cookies are removed on every pack (forward/headers.ts), this one included.
      return NOTHING_CONSUMED
    case 'envelope':
      return ENVELOPE_CONSUMED
    default:
      return { headers: [credential.header] }
  }
}

export const authenticate = (policy: CompiledPolicy) => {
  const keyIndex = buildKeyIndex(policy.apiKeys)
  const { storeTimeoutMs, uploadIdleTimeoutMs } = policy.gateway
  // Built once per gateway: remote key sets and answer caches live as long as the isolate.
  const bearer = new BearerVerifier(policy)
  const session = policy.session === null ? null : new SessionVerifier(policy.session, bearer)
  const sessionCookies = policy.session?.cookies ?? null
  const envelope = new EnvelopeVerifier(policy)
  // What each pack's 401s name besides its methods; MCP packs name their resource metadata
  // (and the scopes they need) in every challenge (RFC 9728 §5.1).
  const sessionCookie: ChallengeContext = { sessionCookie: policy.session?.cookies[0] ?? null }
  const challenges = new Map<string, Challenge>()
  for (const pack of policy.packs) {
    const context = pack.mcp
      ? { ...sessionCookie, mcp: { resourceMetadata: pack.mcp.metadataUrl, scope: pack.mcp.challengeScope } }
      : sessionCookie
    challenges.set(pack.id, { context, acceptSignature: null })
  }
  /** A pack that takes signed requests says what to sign in its 401s (RFC 9421 §5.1), for this request. */
  function challengeOf(s: Routed): Challenge {
    const { pack } = s.route
    const challenge = challenges.get(pack.id) as Challenge
    if (!pack.auth.includes('envelope')) return challenge
    return {
      context: challenge.context,
      acceptSignature: () => acceptSignature(pack, policy.envelope, s.request, s.url),
    }
  }

  /** The nonce cache lives in the store; without one, a nonce can be neither checked nor admitted. */
  function nonceClaimer(env: Bindings): ClaimNonce {
    return async (key, ttlMs) => {
      const store = storeFor(env)
      if (store === null)
        throw new GatewayError({ reason: 'envelope_unavailable', problem: 'no store for the nonce cache' })
      return callStore(() => store.claimOnce(key, ttlMs), storeTimeoutMs)
    }
  }
  /**
   * Keys minted at runtime live in the store. They exist only while runtime keys are enabled
   * (the GATEWAY_ADMIN_TOKEN secret is set): otherwise an unknown key id costs no store read
   * (issue 12 item 8). Lookups, found or not, are trusted for a few seconds per isolate
   * (store/minted-keys.ts), so revocation reaches every isolate within that bound. A store that
   * cannot answer is a 503: a key it might hold can be neither admitted nor called unknown.
   */
  async function mintedEntry(env: Bindings, keyId: string, maxAgeMs?: number): Promise<KeyIndexEntry | null> {
    if (!env.GATEWAY_ADMIN_TOKEN) return null
    const store = storeFor(env)
    if (store === null) return null
    const record = await mintedKeyLookups(store).lookup(keyId, storeTimeoutMs, Date.now(), maxAgeMs)
    return record === null ? null : indexEntry(record)
  }

  /**
   * `recheckWithinMs` is set when an open stream asks again (issue 15): remembered answers older
   * than that do not decide, and nothing is noted on the request (its log line is written).
   */
  async function verify(
    credential: Credential,
    pack: CompiledPack,
    s: RequestState,
    recheckWithinMs?: number,
  ): Promise<AuthnResult> {
    const accepted = pack.auth
    const env = s.env
    const note: NoteDegraded | undefined = recheckWithinMs === undefined ? (entry) => s.noteDegraded(entry) : undefined
    switch (credential.method) {
      case 'api_key':
        if (!accepted.includes('api_key')) return reject({ reason: 'method_not_accepted', method: 'api_key', accepted })
        return verifyApiKey(
          credential.key,
          pack,
          (keyId) => keyIndex.get(keyId) ?? mintedEntry(env, keyId, recheckWithinMs),
          Math.floor(Date.now() / 1000),
        )
      case 'bearer':
        if (!accepted.includes('bearer')) return reject({ reason: 'method_not_accepted', method: 'bearer', accepted })
        return bearer.verify(credential.token, pack, env, note, recheckWithinMs)
      case 'session':
        // Only looked for on packs that accept sessions, with a session configured.
        return (session as SessionVerifier).verify(credential.cookie, pack, env, note, recheckWithinMs)
      case 'envelope':
        // Only looked for on packs that accept signed requests.
        return envelope.verify(s.request, s.url, pack, env, nonceClaimer(env), note)
      case 'unknown_scheme':
        return reject({ reason: 'method_not_accepted', method: 'unknown_scheme', accepted })
    }
  }

  /**
   * How an open stream asks again about the credential it opened with. A signed request is not
   * asked again: its signature vouched for that one request when it was made (its nonce is
   * spent), and its signers are policy, which changes only with a deploy. `expiresAt`: the
   * credential's own expiry, known when it was verified; once past, the recheck refuses it
   * without asking its source (which may be down: that would be "unavailable", and under
   * `on_error: allow` the stream would outlive the credential).
   */
  function recheckOf(
    credential: Credential,
    pack: CompiledPack,
    s: RequestState,
    opened: Authentication,
    expiresAt: number | null,
  ): Recheck | null {
    const { method } = credential
    if (method === 'envelope' || method === 'unknown_scheme') return null
    return async (maxAgeMs) => {
      if (expiresAt !== null && Date.now() >= expiresAt) return judgeFailure(expiredReason(method, opened, pack.auth))
      try {
        return judgeRecheck(await verify(credential, pack, s, maxAgeMs), opened, pack.mode === 'report')
      } catch (error) {
        if (error instanceof GatewayError) return judgeFailure(error.detail)
        return unavailable(error instanceof Error ? error.message : String(error))
      }
    }
  }

  return async function authenticate(s: Routed): Promise<Authenticated> {
    const { pack } = s.route
    s.challenge = challengeOf(s)
    const authenticated = s as Authenticated
    const accepted = pack.auth
    const request = s.request
    const headers = request.headers
    const presented = findCredentials(
      headers,
      accepted.includes('session') ? sessionCookies : null,
      accepted.includes('envelope'),
    )
    switch (presented.kind) {
      case 'too_large':
        throw new GatewayError({ reason: 'credential_too_large', accepted })
      case 'ambiguous':
        throw new GatewayError({ reason: 'credential_ambiguous', accepted })
      case 'one': {
        const { credential } = presented
        // Before the session is looked up: a forged cross-site request costs the app nothing.
        if (credential.method === 'session' && !originTrusted(request.method, headers, s.url.origin, pack)) {
          throw new GatewayError({ reason: 'csrf_refused', origin: headers.get('origin') })
        }
        const result = await verify(credential, pack, s)
        if (result.kind === 'ok') {
          authenticated.authentication = result.value.authentication
          const expected = result.value.expectedDigest ?? null
          if (expected !== null && hasBody(request))
            s.bodyCheck = bodyCheck(request, expected, pack, uploadIdleTimeoutMs)
        } else {
          const { reason, authentication } = result.refusal
          // Report mode forwards a caller refused for an authorization reason, never an invalid credential.
          if (pack.mode !== 'report' || authentication === undefined) throw new GatewayError(reason)
          s.wouldDeny = reason
          authenticated.authentication = authentication
        }
        // A caller report mode forwards despite a refusal keeps its credential's expiry too: its
        // stream ends then, even while the source a recheck would ask is down (audit 2, #2).
        const expiresAt = (result.kind === 'ok' ? result.value.expiresAt : result.refusal.expiresAt) ?? null
        s.recheck = recheckOf(credential, pack, s, authenticated.authentication, expiresAt)
        s.consumed = consumedBy(credential)
        return authenticated
      }
      case 'none': {
        if (!pack.anonymous) {
          if (pack.mode !== 'report') throw new GatewayError({ reason: 'credential_missing', accepted })
          // Report mode: forwarded as an anonymous caller of its own, logged as would_deny (issue 12, item 16).
          s.wouldDeny = { reason: 'credential_missing', accepted }
        }
        const address = s.clientAddress
        if (address === null) throw new GatewayError({ reason: 'no_client_address', accepted })
        const keys = await loadSigningKeys(s.env.INVOKER_SIGNING_KEYS)
        if (!keys.ok) throw new GatewayError({ reason: 'signing_keys_unavailable', problem: keys.problem })
        authenticated.authentication = await anonymousInvoker(address.key, keys.keys.anonymousIdKey)
        return authenticated
      }
    }
  }
}
