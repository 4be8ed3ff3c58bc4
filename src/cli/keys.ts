import { existsSync } from 'node:fs'
import { generateApiKey, sha256Hex } from '../keys/api-key-format.ts'
import { compilePolicies } from '../policy/compiler/compile.ts'
import { readPolicyDir } from '../policy/compiler/node-files.ts'
import { KEY_ID, NAME } from '../policy/patterns.ts'
import { parseInstant } from '../policy/compiler/instant.ts'

/**
 * Refuses, before any key exists, what would make the key useless or wrong: an expiry already
 * past, packs the policy does not have or that take no API keys, a name the policy already uses.
 * Returns the expiry in Unix seconds. The packs are checked against `policies/` when it compiles
 * (for `keys mint`, the gateway checks them again against what it runs).
 */
function checkNewKey(
  command: string,
  options: { name: string; packs: string[]; expires?: string | undefined; policies?: string | undefined },
): number | undefined {
  let expiresAt: number | undefined
  if (options.expires) {
    const time = parseInstant(options.expires)
    if (time === null)
      throw new Error('--expires is an ISO 8601 date (2027-06-30) or date-time with an offset (2027-06-30T10:00:00Z)')
    if (time <= Date.now())
      throw new Error(`--expires ${options.expires} is in the past: the key would be refused from its first use`)
    expiresAt = Math.floor(time / 1000)
  }
  const dir = options.policies ?? 'policies'
  if (!existsSync(dir)) {
    if (options.packs.length > 0) console.error(`(${dir}/ not found: the packs were not checked here)`)
    return expiresAt
  }
  const compiled = compilePolicies(readPolicyDir(dir))
  if (!compiled.ok) {
    console.error(`(${dir}/ does not compile: the packs were not checked here; run \`invoker-gateway check\`)`)
    return expiresAt
  }
  const packs = new Map(compiled.policy.packs.map((p) => [p.id, p]))
  for (const id of options.packs) {
    const pack = packs.get(id)
    if (!pack)
      throw new Error(
        `${command}: no pack is named "${id}" in ${dir}/ (packs: ${[...packs.keys()].join(', ') || 'none'})`,
      )
    if (!pack.auth.includes('api_key'))
      throw new Error(`${command}: pack "${id}" does not accept API keys (its auth: ${pack.auth.join(', ') || 'none'})`)
  }
  if (Object.values(compiled.policy.apiKeys).some((k) => k.name === options.name)) {
    throw new Error(`${command}: ${dir}/_gateway.yaml already has a key named "${options.name}"`)
  }
  return expiresAt
}

/** Mints a key: the key is printed once (stdout), only its hash goes into the policy entry. */
export async function createKeyCommand(options: {
  name?: string
  packs?: string
  expires?: string
  label?: string
  policies?: string
}): Promise<number> {
  const name = options.name
  if (!name || !NAME.test(name)) throw new Error('keys create needs --name (lower-case letters, digits, "-", "_")')
  checkNewKey('keys create', {
    name,
    packs: splitList(options.packs),
    expires: options.expires,
    policies: options.policies,
  })
  const { key, keyId } = generateApiKey()
  const lines = [`  ${name}:`, `    key_id: "${keyId}"`, `    sha256: "${await sha256Hex(key)}"`]
  if (options.packs) lines.push(`    packs: [${splitList(options.packs).join(', ')}]`)
  if (options.expires) lines.push(`    expires: ${options.expires}`)
  if (options.label) lines.push(`    invoker: { label: ${JSON.stringify(options.label)} }`)
  console.log(key)
  console.error(
    `\nThe key above is shown once; store it now. Add this under api_keys: in policies/_gateway.yaml:\n\n${lines.join('\n')}\n`,
  )
  return 0
}

export interface RuntimeKeyOptions {
  gateway?: string
  name?: string
  packs?: string
  expires?: string
  label?: string
  kind?: string
  policies?: string
}

function splitList(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
}

/**
 * Mints a key at runtime through the gateway's admin endpoint: the key is generated here and
 * printed once; only its SHA-256 travels. The admin token comes from GATEWAY_ADMIN_TOKEN in the
 * environment, never from the command line (where shell history and `ps` would keep it).
 */
export async function mintKeyCommand(options: RuntimeKeyOptions): Promise<number> {
  const { gateway, token } = adminTarget(options.gateway)
  const name = options.name
  if (!name || !NAME.test(name)) throw new Error('keys mint needs --name (lower-case letters, digits, "-", "_")')
  const packs = splitList(options.packs)
  if (packs.length === 0)
    throw new Error('keys mint needs --packs a,b: a runtime key always names the packs it may call')
  const expiresAt = checkNewKey('keys mint', { name, packs, expires: options.expires, policies: options.policies })
  const { key, keyId } = generateApiKey()
  const invoker = {
    ...(options.kind ? { kind: options.kind } : {}),
    ...(options.label ? { label: options.label } : {}),
  }
  const response = await fetch(new URL('/.well-known/invoker-gateway/keys', gateway), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      key_id: keyId,
      sha256: await sha256Hex(key),
      name,
      packs,
      ...(expiresAt ? { expires_at: expiresAt } : {}),
      ...(Object.keys(invoker).length ? { invoker } : {}),
    }),
  })
  if (response.status !== 201) return reportFailure('mint', response)
  const answer = (await response.json()) as { store: string }
  console.log(key)
  console.error(
    `\nThe key above (id ${keyId}) is shown once; store it now. It is held by the gateway's ${answer.store} store as a SHA-256 only.\nRevoke it with: invoker-gateway keys revoke ${keyId} --gateway ${gateway}`,
  )
  return 0
}

export async function revokeKeyCommand(keyId: string | undefined, options: RuntimeKeyOptions): Promise<number> {
  const { gateway, token } = adminTarget(options.gateway)
  if (!keyId || !KEY_ID.test(keyId)) throw new Error('keys revoke needs the key id (the 8 characters after "igw_")')
  const response = await fetch(new URL(`/.well-known/invoker-gateway/keys/${keyId}`, gateway), {
    method: 'DELETE',
    headers: { authorization: `Bearer ${token}` },
  })
  if (response.status !== 204) return reportFailure('revoke', response)
  console.error(
    `key ${keyId} revoked; the gateway refuses it from the next request on, and its open streams end at their next recheck.`,
  )
  return 0
}

interface ListedKey {
  key_id: string
  name: string
  packs: string[]
  created_at: number
  expires_at: number | null
  revoked: boolean
  invoker: { id: string; kind: string; label?: string }
}

/**
 * Runtime keys in the gateway's store: key id, name, packs, created, expires, revoked. Never a
 * secret: the gateway holds none to give, and answers with facts only (no hash).
 */
export async function listKeysCommand(options: RuntimeKeyOptions & { json?: boolean }): Promise<number> {
  const { gateway, token } = adminTarget(options.gateway)
  const response = await fetch(new URL('/.well-known/invoker-gateway/keys', gateway), {
    headers: { authorization: `Bearer ${token}` },
  })
  if (response.status !== 200) return reportFailure('list', response)
  const { keys } = (await response.json()) as { keys: ListedKey[] }
  if (options.json) {
    console.log(JSON.stringify(keys, null, 2))
    return 0
  }
  const now = Date.now() / 1000
  const day = (seconds: number): string => new Date(seconds * 1000).toISOString().slice(0, 10)
  const rows = keys.map((k) => [
    k.key_id,
    k.name,
    k.packs.join(','),
    day(k.created_at),
    k.expires_at === null ? '-' : day(k.expires_at),
    k.revoked ? 'revoked' : k.expires_at !== null && k.expires_at <= now ? 'expired' : 'active',
  ])
  const header = ['KEY ID', 'NAME', 'PACKS', 'CREATED', 'EXPIRES', 'STATE']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
  for (const row of [header, ...rows])
    console.log(
      row
        .map((cell, i) => cell.padEnd(widths[i] as number))
        .join('  ')
        .trimEnd(),
    )
  if (rows.length === 0) console.error('no runtime keys')
  return 0
}

function adminTarget(gateway: string | undefined): { gateway: string; token: string } {
  if (!gateway) throw new Error('--gateway URL is required (e.g. https://gateway.example.com)')
  const token = process.env['GATEWAY_ADMIN_TOKEN']
  if (!token) throw new Error("set GATEWAY_ADMIN_TOKEN in the environment to the gateway's admin token")
  return { gateway, token }
}

async function reportFailure(action: string, response: Response): Promise<number> {
  const text = await response.text()
  let detail = text
  try {
    detail = (JSON.parse(text) as { detail?: string }).detail ?? text
  } catch {
    // not problem+json: show the text as it is
  }
  console.error(`keys ${action} failed: ${response.status} ${detail}`)
  return 1
}
