import { generateApiKey, sha256Hex } from '../keys/api-key-format.ts'

/** Mints a key: the key is printed once (stdout), only its hash goes into the policy entry. */
export async function createKeyCommand(options: { name?: string; packs?: string; expires?: string; label?: string }): Promise<number> {
  const name = options.name
  if (!name || !/^[a-z0-9][a-z0-9_-]{0,62}$/.test(name)) throw new Error('keys create needs --name (lower-case letters, digits, "-", "_")')
  if (options.expires && Number.isNaN(Date.parse(options.expires))) throw new Error('--expires is an ISO 8601 date')
  const { key, keyId } = generateApiKey()
  const lines = [
    `  ${name}:`,
    `    key_id: "${keyId}"`,
    `    sha256: "${await sha256Hex(key)}"`,
  ]
  if (options.packs) lines.push(`    packs: [${options.packs.split(',').map((p) => p.trim()).join(', ')}]`)
  if (options.expires) lines.push(`    expires: ${options.expires}`)
  if (options.label) lines.push(`    invoker: { label: ${JSON.stringify(options.label)} }`)
  console.log(key)
  console.error(`\nThe key above is shown once; store it now. Add this under api_keys: in policies/_gateway.yaml:\n\n${lines.join('\n')}\n`)
  return 0
}

export interface RuntimeKeyOptions {
  gateway?: string
  name?: string
  packs?: string
  expires?: string
  label?: string
  kind?: string
}

/**
 * Mints a key at runtime through the gateway's admin endpoint: the key is generated here and
 * printed once; only its SHA-256 travels. The admin token comes from GATEWAY_ADMIN_TOKEN in the
 * environment, never from the command line (where shell history and `ps` would keep it).
 */
export async function mintKeyCommand(options: RuntimeKeyOptions): Promise<number> {
  const { gateway, token } = adminTarget(options.gateway)
  const name = options.name
  if (!name || !/^[a-z0-9][a-z0-9_-]{0,62}$/.test(name)) throw new Error('keys mint needs --name (lower-case letters, digits, "-", "_")')
  const packs = (options.packs ?? '').split(',').map((p) => p.trim()).filter(Boolean)
  if (packs.length === 0) throw new Error('keys mint needs --packs a,b: a runtime key always names the packs it may call')
  let expiresAt: number | undefined
  if (options.expires) {
    const time = Date.parse(options.expires)
    if (Number.isNaN(time)) throw new Error('--expires is an ISO 8601 date')
    expiresAt = Math.floor(time / 1000)
  }
  const { key, keyId } = generateApiKey()
  const invoker = { ...(options.kind ? { kind: options.kind } : {}), ...(options.label ? { label: options.label } : {}) }
  const response = await fetch(new URL('/.well-known/invoker-gateway/keys', gateway), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ key_id: keyId, sha256: await sha256Hex(key), name, packs, ...(expiresAt ? { expires_at: expiresAt } : {}), ...(Object.keys(invoker).length ? { invoker } : {}) }),
  })
  if (response.status !== 201) return reportFailure('mint', response)
  const answer = (await response.json()) as { store: string }
  console.log(key)
  console.error(`\nThe key above (id ${keyId}) is shown once; store it now. It is held by the gateway's ${answer.store} store as a SHA-256 only.\nRevoke it with: invoker-gateway keys revoke ${keyId} --gateway ${gateway}`)
  return 0
}

export async function revokeKeyCommand(keyId: string | undefined, options: RuntimeKeyOptions): Promise<number> {
  const { gateway, token } = adminTarget(options.gateway)
  if (!keyId || !/^[0-9A-Za-z]{8}$/.test(keyId)) throw new Error('keys revoke needs the key id (the 8 characters after "igw_")')
  const response = await fetch(new URL(`/.well-known/invoker-gateway/keys/${keyId}`, gateway), { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })
  if (response.status !== 204) return reportFailure('revoke', response)
  console.error(`key ${keyId} revoked; the gateway refuses it from the next request on.`)
  return 0
}

function adminTarget(gateway: string | undefined): { gateway: string; token: string } {
  if (!gateway) throw new Error('--gateway URL is required (e.g. https://gateway.example.com)')
  const token = process.env['GATEWAY_ADMIN_TOKEN']
  if (!token) throw new Error('set GATEWAY_ADMIN_TOKEN in the environment to the gateway\'s admin token')
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
