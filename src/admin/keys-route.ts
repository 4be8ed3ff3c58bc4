/**
 * Runtime API keys (SPEC §3, §5): mint and revoke keys in the store without a deploy, so a
 * pipeline can give a new pack its token as part of deploying it.
 *
 *   POST   /.well-known/invoker-gateway/keys            {key_id, sha256, name, packs, expires_at?, invoker?}
 *   DELETE /.well-known/invoker-gateway/keys/<key_id>
 *   GET    /.well-known/invoker-gateway/keys             → {keys: [{key_id, name, packs, …}]}
 *
 * Authorized by `Authorization: Bearer <GATEWAY_ADMIN_TOKEN>`; without that secret the endpoint
 * does not exist (404). Only the key's SHA-256 ever reaches the gateway: the CLI generates the
 * key, prints it once, and sends the hash. Every runtime key names its packs (no key for all
 * packs can be minted at runtime), and cannot reuse a key id or name from the policy.
 *
 * The mint body is read against one table of its fields (mint-request.ts).
 *
 * @module
 */
import { ADMIN_KEYS_PATH, ADMIN_MAX_BODY_BYTES, MIN_ADMIN_TOKEN_LENGTH } from '../constants.ts'
import { constantTimeEqual, sha256Bytes } from '../keys/digest.ts'
import { GatewayError } from '../errors/reasons.ts'
import type { CompiledPolicy } from '../policy/types.ts'
import { readBounded, unreadableBody } from '../read-body.ts'
import type { RequestState } from '../state.ts'
import { KEY_ID } from '../policy/patterns.ts'
import { callStore, storeFor } from '../store/index.ts'
import { mintedKeyLookups } from '../store/minted-keys.ts'
import type { GatewayStore } from '../store/types.ts'
import { foldId, foldText } from '../fold.ts'
import { parseMintRequest, type MintContext } from './mint-request.ts'

/** The namespaces of token and session users (a mapping without a prefix names none). */
function userIdPrefixes(policy: CompiledPolicy): string[] {
  const mappings = Object.values(policy.issuers).map((issuer) => issuer.claims)
  if (policy.session !== null) mappings.push(policy.session.verify.claims)
  return [...new Set(mappings.map((m) => m.idPrefix).filter((prefix) => prefix !== ''))]
}

export function adminKeyRoutes(policy: CompiledPolicy) {
  const mintContext: MintContext = {
    policyKeyIds: new Set(Object.keys(policy.apiKeys)),
    policyNames: new Set(Object.values(policy.apiKeys).map((k) => k.name)),
    packIds: new Set(policy.packs.map((p) => p.id)),
    /** Ids a runtime key may not take: anonymous callers' and the users of delegating signers (issue 12, item 3). */
    // Both folded (fold.ts), as the id they are compared with.
    reservedIds: [
      'anon:',
      ...Object.values(policy.signers).flatMap((s) => (s.delegatedIdPrefix === null ? [] : [s.delegatedIdPrefix])),
      ...userIdPrefixes(policy),
    ].map(foldText),
    policyInvokerIds: new Set(
      [
        ...Object.values(policy.apiKeys).map((k) => k.invoker.id),
        ...Object.values(policy.signers).map((s) => s.invoker.id),
        ...policy.keyDirectories.map((directory) => directory.invoker.id),
      ].map(foldId),
    ),
  }
  const timeoutMs = policy.gateway.storeTimeoutMs
  const idleMs = policy.gateway.uploadIdleTimeoutMs

  async function mint(s: RequestState): Promise<Response> {
    await authorizeAdmin(s)
    const record = parseMintRequest(await readJson(s.request, idleMs), mintContext, Math.floor(Date.now() / 1000))
    const store = storeOrFail(s)
    const stored = await callStore(() => store.putMintedKey(record), timeoutMs)
    // This isolate may remember the id as unknown: usable here from the next request on.
    mintedKeyLookups(store).forget(record.keyId)
    if (!stored)
      throw new GatewayError({ reason: 'admin_conflict', problem: `key id ${record.keyId} is already taken` })
    return json({ key_id: record.keyId, name: record.name, packs: record.packs, store: store.kind }, 201)
  }

  async function revoke(s: RequestState): Promise<Response> {
    await authorizeAdmin(s)
    const keyId = keyIdOf(s.url.pathname)
    if (!KEY_ID.test(keyId))
      throw new GatewayError({ reason: 'admin_bad_request', problem: 'the key id is 8 base62 characters' })
    if (policy.apiKeys[keyId])
      throw new GatewayError({
        reason: 'admin_conflict',
        problem: 'this key is defined in the policy; revoke it there',
      })
    const store = storeOrFail(s)
    const revoked = await callStore(() => store.revokeMintedKey(keyId), timeoutMs)
    // Refused here from the next request on; other isolates within RUNTIME_KEY_CACHE_TTL_MS.
    mintedKeyLookups(store).forget(keyId)
    if (!revoked) throw new GatewayError({ reason: 'admin_key_not_found' })
    return new Response(null, { status: 204 })
  }

  /** Every runtime key, as facts about it: never its hash, never anything a caller presents. */
  async function list(s: RequestState): Promise<Response> {
    await authorizeAdmin(s)
    const store = storeOrFail(s)
    const records = await callStore(() => store.listMintedKeys(), timeoutMs)
    const keys = records
      .sort((a, b) => a.createdAt - b.createdAt || a.keyId.localeCompare(b.keyId))
      .map((record) => ({
        key_id: record.keyId,
        name: record.name,
        packs: record.packs,
        created_at: record.createdAt,
        expires_at: record.expiresAt,
        revoked: record.revoked,
        invoker: {
          id: record.invoker.id,
          kind: record.invoker.kind,
          ...(record.invoker.label !== undefined ? { label: record.invoker.label } : {}),
        },
      }))
    return json({ keys, store: store.kind }, 200)
  }

  /** `POST` mints, `DELETE …/<key_id>` revokes, `GET` (and `HEAD`) lists: the route table sends nothing else here. */
  return function adminKeys(s: RequestState): Promise<Response> {
    const method = s.request.method
    return method === 'POST' ? mint(s) : method === 'DELETE' ? revoke(s) : list(s)
  }
}

/** The key id of `DELETE /.well-known/invoker-gateway/keys/<key_id>`, percent-decoded as a path parameter is. */
function keyIdOf(path: string): string {
  const segment = path.slice(ADMIN_KEYS_PATH.length + 1)
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

function json(body: unknown, status: number): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  })
}

async function authorizeAdmin(s: RequestState): Promise<void> {
  const expected = s.env.GATEWAY_ADMIN_TOKEN
  if (!expected) throw new GatewayError({ reason: 'route_not_found' })
  // The endpoint has no rate limit of its own (a guessed token mints keys for every pack): a
  // token short enough to guess leaves it off rather than open.
  if (expected.length < MIN_ADMIN_TOKEN_LENGTH) throw new GatewayError({ reason: 'admin_token_weak' })
  const header = s.request.headers.get('authorization') ?? ''
  const presented = header.startsWith('Bearer ') ? header.slice(7).trim() : ''
  // Digests first: equal lengths, and the comparison time says nothing about the token.
  const [a, b] = await Promise.all([sha256Bytes(presented), sha256Bytes(expected)])
  if (presented === '' || !constantTimeEqual(a, b)) throw new GatewayError({ reason: 'admin_unauthorized' })
}

function storeOrFail(s: RequestState): GatewayStore {
  const store = storeFor(s.env)
  if (store === null) throw new GatewayError({ reason: 'store_unavailable', rule: null })
  return store
}

/** The body, capped while it is read: a larger one is refused (413) without being read whole. */
async function readJson(request: Request, idleMs: number): Promise<unknown> {
  const read = await readBounded(request, ADMIN_MAX_BODY_BYTES, idleMs)
  if (!read.ok) throw unreadableBody(read.problem, ADMIN_MAX_BODY_BYTES, idleMs)
  try {
    return JSON.parse(new TextDecoder().decode(read.bytes)) as unknown
  } catch {
    throw new GatewayError({ reason: 'admin_bad_request', problem: 'the body is not JSON' })
  }
}
