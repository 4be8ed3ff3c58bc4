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
 * Validation is by hand: the Worker carries no schema library, and the shape is small.
 *
 * @module
 */
import { ADMIN_KEYS_PATH, ADMIN_MAX_BODY_BYTES } from '../constants.ts'
import { constantTimeEqual, sha256Bytes } from '../keys/digest.ts'
import { GatewayError } from '../errors/reasons.ts'
import type { JsonValue } from '../invoker.ts'
import type { CompiledPolicy } from '../policy/types.ts'
import { readBounded } from '../read-body.ts'
import type { RequestState } from '../state.ts'
import { invokerProblem } from '../pipeline/authenticate/claim-limits.ts'
import { callStore, storeFor } from '../store/index.ts'
import { mintedKeyLookups } from '../store/minted-keys.ts'
import type { GatewayStore, MintedKeyRecord } from '../store/types.ts'

const KEY_ID = /^[0-9A-Za-z]{8}$/
const SHA256_HEX = /^[0-9a-f]{64}$/
const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/

export function adminKeyRoutes(policy: CompiledPolicy) {
  const policyNames = new Set(Object.values(policy.apiKeys).map((k) => k.name))
  const packIds = new Set(policy.packs.map((p) => p.id))
  /** Ids a runtime key may not take: anonymous callers' and the users of delegating signers (issue 12, item 3). */
  const reservedIds = ['anon:', ...Object.values(policy.signers).flatMap((s) => (s.delegatedIdPrefix === null ? [] : [s.delegatedIdPrefix]))]
  const timeoutMs = policy.gateway.storeTimeoutMs

  async function mint(s: RequestState): Promise<Response> {
    await authorizeAdmin(s)
    const record = parseMintRequest(await readJson(s.request), policy, policyNames, packIds, reservedIds)
    const store = storeOrFail(s)
    const stored = await callStore(() => store.putMintedKey(record), timeoutMs)
    // This isolate may remember the id as unknown: usable here from the next request on.
    mintedKeyLookups(store).forget(record.keyId)
    if (!stored) throw new GatewayError({ reason: 'admin_conflict', problem: `key id ${record.keyId} is already taken` })
    return json({ key_id: record.keyId, name: record.name, packs: record.packs, store: store.kind }, 201)
  }

  async function revoke(s: RequestState): Promise<Response> {
    await authorizeAdmin(s)
    const keyId = keyIdOf(s.url.pathname)
    if (!KEY_ID.test(keyId)) throw new GatewayError({ reason: 'admin_bad_request', problem: 'the key id is 8 base62 characters' })
    if (policy.apiKeys[keyId]) throw new GatewayError({ reason: 'admin_conflict', problem: 'this key is defined in the policy; revoke it there' })
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
        invoker: { id: record.invoker.id, kind: record.invoker.kind, ...(record.invoker.label !== undefined ? { label: record.invoker.label } : {}) },
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
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } })
}

async function authorizeAdmin(s: RequestState): Promise<void> {
  const expected = s.env.GATEWAY_ADMIN_TOKEN
  if (!expected) throw new GatewayError({ reason: 'route_not_found' })
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
async function readJson(request: Request): Promise<unknown> {
  const read = await readBounded(request, ADMIN_MAX_BODY_BYTES)
  if (!read.ok) throw new GatewayError(read.problem === 'too_large' ? { reason: 'body_too_large', limitBytes: ADMIN_MAX_BODY_BYTES } : { reason: 'body_unreadable' })
  try {
    return JSON.parse(new TextDecoder().decode(read.bytes)) as unknown
  } catch {
    throw new GatewayError({ reason: 'admin_bad_request', problem: 'the body is not JSON' })
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function parseMintRequest(body: unknown, policy: CompiledPolicy, policyNames: Set<string>, packIds: Set<string>, reservedIds: readonly string[]): MintedKeyRecord {
  const bad = (problem: string): never => {
    throw new GatewayError({ reason: 'admin_bad_request', problem })
  }
  if (!isObject(body)) return bad('the body is a JSON object')
  const known = new Set(['key_id', 'sha256', 'name', 'packs', 'expires_at', 'invoker'])
  for (const field of Object.keys(body)) if (!known.has(field)) bad(`unknown field "${field}"`)
  const { key_id: keyId, sha256, name, packs, expires_at: expiresAt, invoker } = body
  if (typeof keyId !== 'string' || !KEY_ID.test(keyId)) bad('key_id is 8 base62 characters')
  if (policy.apiKeys[keyId as string]) bad('key_id is used by a key in the policy')
  if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256)) bad('sha256 is 64 lower-case hex characters')
  if (typeof name !== 'string' || !NAME.test(name)) bad('name is lower-case letters, digits, "-" and "_"')
  if (policyNames.has(name as string)) bad(`name "${name as string}" is used by a key in the policy`)
  if (!Array.isArray(packs) || packs.length === 0) bad('packs lists the packs the key may call (at least one)')
  for (const pack of packs as unknown[]) if (typeof pack !== 'string' || !packIds.has(pack)) bad(`no pack is named ${JSON.stringify(pack)}`)
  if (expiresAt !== undefined && (typeof expiresAt !== 'number' || !Number.isInteger(expiresAt) || expiresAt <= 0)) {
    bad('expires_at is Unix seconds')
  }
  const invokerFields = invoker === undefined ? {} : isObject(invoker) ? invoker : bad('invoker is an object')
  for (const field of Object.keys(invokerFields)) if (!['id', 'kind', 'label', 'meta'].includes(field)) bad(`unknown invoker field "${field}"`)
  const { id, kind, label, meta } = invokerFields
  if (id !== undefined && (typeof id !== 'string' || id === '')) bad('invoker.id is a non-empty string')
  const reserved = reservedIds.find((prefix) => (id as string | undefined)?.startsWith(prefix))
  if (reserved !== undefined) bad(`invoker.id may not start with "${reserved}": those ids belong to another kind of invoker`)
  if (kind !== undefined && (typeof kind !== 'string' || kind === '')) bad('invoker.kind is a non-empty string')
  if (label !== undefined && typeof label !== 'string') bad('invoker.label is a string')
  if (meta !== undefined && !isObject(meta)) bad('invoker.meta is an object')
  // The limits every invoker is held to (issue 12, item 2): refused, never cut short.
  const oversized = invokerProblem({ id: id as string | undefined, kind: kind as string | undefined, label: label as string | undefined, meta: meta as Record<string, unknown> | undefined })
  if (oversized !== null) bad(`invoker.${oversized}`)
  return {
    name: name as string,
    keyId: keyId as string,
    sha256: sha256 as string,
    packs: packs as string[],
    expiresAt: (expiresAt as number | undefined) ?? null,
    revoked: false,
    createdAt: Math.floor(Date.now() / 1000),
    invoker: {
      id: (id as string | undefined) ?? `apikey:${name as string}`,
      kind: (kind as string | undefined) ?? 'apiKey',
      label: (label as string | undefined) ?? (name as string),
      meta: (meta as Record<string, JsonValue> | undefined) ?? {},
    },
  }
}
